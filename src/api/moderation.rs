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

/// WeChat's check of the push URL (`GET /v1/moderation/wechat?echostr=…`
/// when the operator saves it in WeChat's console): `echostr` as it is when
/// the signature is the push token's, 403 `push_refused` otherwise. A plain
/// text answer the generated operations cannot give, so the gate middleware
/// answers it; docs/v1.yml describes it with the POST.
pub(crate) fn wechat_url_check(
    req: &poem::Request,
    media_check: &crate::media_check::MediaCheck,
) -> poem::Response {
    let query: std::collections::HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| {
                    let decode = |s: &str| {
                        percent_encoding::percent_decode_str(s)
                            .decode_utf8_lossy()
                            .into_owned()
                    };
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let push = crate::media_check::PushQuery {
        signature: query.get("signature").cloned(),
        timestamp: query.get("timestamp").cloned(),
        nonce: query.get("nonce").cloned(),
        msg_signature: None,
    };
    match (
        media_check.verify_url(&push, crate::clock::unix_now()),
        query.get("echostr"),
    ) {
        (Ok(()), Some(echo)) => poem::Response::builder()
            .content_type("text/plain; charset=utf-8")
            .body(echo.clone()),
        (Ok(()), None) => poem::error::ResponseError::as_response(&ApiError::new(
            ErrorCode::InvalidRequest,
            "no echostr to answer",
        )),
        (Err(e), _) => poem::error::ResponseError::as_response(&ApiError::new(
            ErrorCode::PushRefused,
            e.to_string(),
        )),
    }
}
