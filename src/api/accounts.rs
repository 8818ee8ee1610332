//! Operations tagged `Accounts`: explicit registration and "who am I".

use poem_openapi::payload::Json;

use super::{
    Account, AccountsApi, CreateAccountsByWxappResponse, GetAccountDetailResponse, Handlers,
    WxappLogin,
    auth::{login_input, new_account_id},
    error::ApiError,
    security::{Claims, ClientId},
};
use crate::{clock::unix_now, store};

impl AccountsApi for Handlers {
    async fn create_accounts_by_wxapp(
        &self,
        _client: ClientId,
        code: Option<String>,
        body: WxappLogin,
    ) -> CreateAccountsByWxappResponse {
        match self.register(code, body).await {
            Ok(account) => CreateAccountsByWxappResponse::Created(Json(account_body(&account))),
            Err(err) => err.into(),
        }
    }

    async fn get_account_detail(&self, claims: Claims) -> GetAccountDetailResponse {
        match self.state.store.account(&claims.sub).await {
            Ok(Some(account)) => GetAccountDetailResponse::Ok(Json(account_body(&account))),
            Ok(None) => {
                ApiError::not_found_as("account_not_found", "the token's account does not exist")
                    .into()
            }
            Err(err) => ApiError::internal(err).into(),
        }
    }
}

impl Handlers {
    async fn register(
        &self,
        code: Option<String>,
        body: WxappLogin,
    ) -> Result<store::Account, ApiError> {
        let input = login_input(code, body)?;
        let (openid, profile) = self.wechat_identity(&input).await?;
        let now = unix_now() as i64;
        match self
            .state
            .store
            .create_account(&new_account_id(), &openid, &profile, now)
            .await
        {
            Ok(account) => Ok(account),
            Err(store::StoreError::AlreadyExists) => Err(ApiError::with_status(
                poem::http::StatusCode::CONFLICT,
                "wxapp_already_registered",
                "this WeChat user already has an account; log in at POST /auth/oauth/token",
            )),
            Err(err) => Err(ApiError::internal(err)),
        }
    }
}

fn account_body(account: &store::Account) -> Account {
    Account {
        id: account.id.clone(),
        nickname: account.nickname.clone(),
        avatar: account.avatar.clone(),
        created_time: account.created_at,
        last_login_time: account.last_login_at,
    }
}
