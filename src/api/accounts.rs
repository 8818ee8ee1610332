//! Operations tagged `Accounts`: explicit registration and "who am I".

use super::{
    Account, AccountsApi, Handlers, WxappLogin,
    auth::login_request,
    error::{ApiError, ErrorCode},
    security::{Claims, ClientId},
};
use crate::store;

impl AccountsApi for Handlers {
    async fn create_accounts_by_wxapp(
        &self,
        _client: ClientId,
        code: Option<String>,
        body: WxappLogin,
    ) -> Result<Account, ApiError> {
        let request = login_request(code, body)?;
        let account = self.state.login.register(&request).await?;
        Ok(account_body(account))
    }

    async fn get_account_detail(&self, claims: Claims) -> Result<Account, ApiError> {
        let account = self
            .state
            .login
            .account(&claims.sub)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::AccountNotFound,
                    "the token's account does not exist",
                )
            })?;
        Ok(account_body(account))
    }
}

fn account_body(account: store::Account) -> Account {
    Account {
        id: account.id,
        nickname: account.nickname,
        avatar: account.avatar,
        created_time: account.created_at,
        last_login_time: account.last_login_at,
    }
}
