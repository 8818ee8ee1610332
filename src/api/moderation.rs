//! Operations tagged `Moderation`: verdicts that moderation providers push
//! to cosgate. The signature and decryption are `crate::media_check`'s; the
//! verdict is applied by the upload sessions' service.

use super::{
    Handlers, ModerationApi, WechatPush,
    error::{ApiError, ErrorCode},
};
use crate::{
    clock::unix_now,
    media_check::{PushBody, PushQuery, PushResult},
};

impl ModerationApi for Handlers {
    async fn wechat_media_check_push(
        &self,
        signature: Option<String>,
        timestamp: Option<String>,
        nonce: Option<String>,
        _openid: Option<String>,
        _encrypt_type: Option<String>,
        msg_signature: Option<String>,
        body: WechatPush,
    ) -> Result<(), ApiError> {
        let Some(media_check) = &self.state.media_check else {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "WeChat moderation is not configured (MODERATION=wechat)",
            ));
        };
        let query = PushQuery {
            signature,
            timestamp,
            nonce,
            msg_signature,
        };
        let pushed = PushBody {
            to_user_name: body.to_user_name,
            encrypt: body.encrypt,
            event: body.event,
            appid: body.appid,
            trace_id: body.trace_id,
            errcode: body.errcode,
            result: body.result.map(|r| PushResult {
                suggest: r.suggest,
                label: r.label,
            }),
        };
        let now = unix_now();
        let verdict = media_check.open(&query, pushed, now).map_err(|e| {
            tracing::warn!(reason = %e, "a WeChat push was refused");
            ApiError::new(ErrorCode::PushRefused, e.to_string())
        })?;
        self.state.uploads.wechat_verdict(verdict, now).await?;
        Ok(())
    }
}
