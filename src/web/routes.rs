//! The session routes' protocol: refresh, logout, logout everywhere, the
//! session list, revoking one session, the JWKS and the browser client,
//! each from request headers (and body) to an [`Answer`].

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::answer::{Answer, Refusal};
use super::protocol::SessionProtocol;
use super::transport::{RequestHeaders, Transport};
use crate::cookies::token_from_authorization;
use crate::error::SessionError;
use crate::manager::{SessionInfo, SessionTokens};
use crate::record::SessionHandle;

/// `{"refresh_token": ...}`, the body of refresh and logout in header mode.
#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

/// The refresh token of a header-mode body, if it has one.
fn body_refresh_token(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<RefreshBody>(body)
        .ok()
        .map(|b| b.refresh_token)
}

impl SessionProtocol {
    /// `POST {refresh}`: rotates the refresh token (the refresh cookie,
    /// after the CSRF check; or in header mode `{"refresh_token"}` in the
    /// body) and answers with the new tokens, as for a login. A refusal is
    /// `{"error", "reason"?}`; a 401 clears both cookies (cookie
    /// transports), a 503 leaves them (the token still works).
    pub async fn refresh(&self, headers: &impl RequestHeaders, body: &[u8]) -> Answer {
        self.try_refresh(headers, body)
            .await
            .unwrap_or_else(Refusal::into_answer)
    }

    async fn try_refresh(
        &self,
        headers: &impl RequestHeaders,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        let engine = self.engine()?;
        let header_mode = self.is_header_mode(headers);
        let from_body;
        let token = if header_mode {
            from_body =
                body_refresh_token(body).ok_or_else(|| self.clearing(Refusal::unauthorized()))?;
            from_body.as_str()
        } else {
            self.check_csrf(headers)?;
            self.refresh_cookie(headers)
                .map_err(|e| self.clearing(e.into()))?
        };
        match engine.refresh(token).await {
            Ok(tokens) => Ok(self.tokens_answer(&tokens, header_mode)),
            Err(e) if e.http_status() == 401 => Err(self.clearing(e.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST {logout}`: revokes the session of whichever genuine token the
    /// request carries, the refresh token first (cookie, or header-mode
    /// body), then the access token (cookie or bearer, expired or not, of
    /// the session's current or previous generation) (SEC-44, SEC-45).
    /// Answers `{"revoked": 0 | 1}` ending the session in this browser
    /// (see [`logged_out`](Self::logged_out)); 401, clearing the cookies,
    /// when neither token is genuine.
    pub async fn logout(&self, headers: &impl RequestHeaders, body: &[u8]) -> Answer {
        match self.try_logout(headers, body).await {
            Ok(revoked) => self.logged_out(&json!({ "revoked": u8::from(revoked) })),
            Err(refusal) => refusal.into_answer(),
        }
    }

    async fn try_logout(
        &self,
        headers: &impl RequestHeaders,
        body: &[u8],
    ) -> Result<bool, Refusal> {
        // A verify-only configuration cannot log out: said before anything.
        self.engine()?;
        let unauthorized = || self.clearing(Refusal::unauthorized());
        let bearer = self.transport() != Transport::Cookies && headers.contains("authorization");
        // A request with `Authorization` (or in header mode) is
        // authenticated by its headers and body alone; otherwise by its
        // cookies, after the CSRF check.
        let (refresh, access) = if self.is_header_mode(headers) || bearer {
            let access = if bearer {
                let token = token_from_authorization(headers.values("authorization"))
                    .map_err(|e| self.clearing(e.into()))?;
                Some(token)
            } else {
                None
            };
            (body_refresh_token(body), access)
        } else {
            self.check_csrf(headers)?;
            let access = self
                .cookies()
                .access_token_from_cookies(headers.values("cookie"));
            let refresh = self.refresh_cookie(headers).ok().map(str::to_owned);
            (refresh, access.ok())
        };
        self.revoke_by_tokens(refresh.as_deref(), access)
            .await?
            .ok_or_else(unauthorized)
    }

    /// Revokes the session of the first genuine token of the two, the
    /// refresh token first. `None` when neither is genuine; otherwise
    /// whether a session was revoked (it may have ended already).
    pub(super) async fn revoke_by_tokens(
        &self,
        refresh: Option<&str>,
        access: Option<&str>,
    ) -> Result<Option<bool>, Refusal> {
        let engine = self.engine()?;
        if let Some(token) = refresh {
            match engine.revoke_with_refresh_token(token).await {
                Ok(revoked) => return Ok(Some(revoked.is_some())),
                Err(SessionError::Unauthorized(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(token) = access {
            match engine.revoke_with_access_token(token).await {
                Ok(revoked) => return Ok(Some(revoked.is_some())),
                Err(SessionError::Unauthorized(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// `POST {logout_all}`: revokes every session of the caller (strictly
    /// verified) and answers `{"revoked": N}`, ending the session in this
    /// browser.
    pub async fn logout_all(&self, method: &str, headers: &impl RequestHeaders) -> Answer {
        let result = async {
            let (caller, _) = self.verify_request_strict(method, headers).await?;
            let revoked = self.engine()?.revoke_all_for_user(caller.user_id()).await?;
            Ok::<_, Refusal>(self.logged_out(&json!({ "revoked": revoked })))
        };
        result.await.unwrap_or_else(Refusal::into_answer)
    }

    /// `GET {sessions}`: the caller's (strictly verified) sessions,
    /// `[{"session_handle","created_at","last_active_at","current", ...}]`,
    /// times in Unix seconds, with the configured extra fields.
    pub async fn list_sessions(&self, method: &str, headers: &impl RequestHeaders) -> Answer {
        let result = async {
            let (caller, _) = self.verify_request_strict(method, headers).await?;
            let current = caller.session_handle();
            let list: Vec<Value> = self
                .engine()?
                .sessions_for_user(caller.user_id())
                .await?
                .iter()
                .map(|s| self.list_entry(s, current))
                .collect();
            Ok::<_, Refusal>(Answer::json(200, &Value::Array(list)))
        };
        result.await.unwrap_or_else(Refusal::into_answer)
    }

    fn list_entry(&self, session: &SessionInfo, current: SessionHandle) -> Value {
        let mut entry = self
            .session_fields()
            .map(|f| f(session))
            .unwrap_or_default();
        let last_active = session.last_refreshed_at.unwrap_or(session.created_at);
        let own = [
            ("session_handle", Value::from(session.handle.to_string())),
            ("created_at", session.created_at.unix_timestamp().into()),
            ("last_active_at", last_active.unix_timestamp().into()),
            ("current", (session.handle == current).into()),
        ];
        for (name, value) in own {
            entry.insert(name.to_owned(), value);
        }
        Value::Object(entry)
    }

    /// `DELETE {sessions}/{handle}`: revokes one of the caller's (strictly
    /// verified) sessions, `{"revoked": 1}`, ending the session in this
    /// browser when it is the caller's own; 404 `not_found` for a session
    /// that is missing or anybody else's (answered alike).
    pub async fn revoke_session(
        &self,
        method: &str,
        headers: &impl RequestHeaders,
        handle: &str,
    ) -> Answer {
        self.try_revoke_session(method, headers, handle)
            .await
            .unwrap_or_else(Refusal::into_answer)
    }

    async fn try_revoke_session(
        &self,
        method: &str,
        headers: &impl RequestHeaders,
        handle: &str,
    ) -> Result<Answer, Refusal> {
        let (caller, _) = self.verify_request_strict(method, headers).await?;
        let engine = self.engine()?;
        let handle: SessionHandle = handle.parse().map_err(|_| Refusal::not_found())?;
        if !engine.revoke_if_owned(&handle, caller.user_id()).await? {
            return Err(Refusal::not_found());
        }
        let body = json!({ "revoked": 1 });
        if handle == caller.session_handle() {
            return Ok(self.logged_out(&body));
        }
        Ok(Answer::json(200, &body))
    }

    /// `GET {jwks}`: the public keys (`application/jwk-set+json`); 404
    /// `not_found` with HS256 (there is no public key to publish).
    pub fn jwks(&self) -> Answer {
        let jwks = match self.engine() {
            Ok(engine) => engine.jwks(),
            Err(refusal) => return refusal.into_answer(),
        };
        if jwks.keys().is_empty() {
            return Refusal::not_found().into_answer();
        }
        Answer::with_body(200, "application/jwk-set+json", jwks.to_json())
    }

    /// `GET {client_js}`: the browser client,
    /// [`BROWSER_CLIENT_JS`](super::BROWSER_CLIENT_JS).
    pub fn client_js(&self) -> Answer {
        Answer::with_body(
            200,
            "text/javascript; charset=utf-8",
            super::BROWSER_CLIENT_JS,
        )
    }

    /// The answer to a login or a refresh:
    /// `{"user_id","session_handle","session_expires_in"}` and both
    /// cookies, or in header mode both tokens in the body
    /// (`"access_token"`, `"refresh_token"`) and no cookie.
    ///
    /// `session_expires_in` is the number of whole seconds until the
    /// session ends unless it is refreshed first (its idle expiry, or its
    /// absolute expiry if that comes sooner): the cookies' `Max-Age`. The
    /// browser drops the cookies then, so a later refresh arrives with no
    /// token and the server cannot tell an expired session from none; the
    /// browser client keeps this deadline to tell the user that their
    /// session expired.
    pub fn tokens_answer(&self, tokens: &SessionTokens, header_mode: bool) -> Answer {
        let now = self.now();
        let expires_in = (tokens.refresh_expires_at - now).whole_seconds().max(0);
        let mut body = Map::new();
        body.insert("user_id".to_owned(), tokens.user_id.as_str().into());
        body.insert(
            "session_handle".to_owned(),
            tokens.handle.to_string().into(),
        );
        body.insert("session_expires_in".to_owned(), expires_in.into());
        if header_mode {
            let (access, refresh) = (tokens.access_token.expose(), tokens.refresh_token.expose());
            body.insert("access_token".to_owned(), access.into());
            body.insert("refresh_token".to_owned(), refresh.into());
            return Answer::json(200, &Value::Object(body));
        }
        let body = Value::Object(body);
        let cookies = self.cookies();
        // The access cookie lives as long as the refresh token: once the
        // access token expires, the server must still see it to answer
        // `try_refresh_token` and to find the session at logout.
        let expires = tokens.refresh_expires_at;
        Answer::json(200, &body)
            .set_cookie(cookies.access_cookie(&tokens.access_token, expires, now))
            .set_cookie(cookies.refresh_cookie(&tokens.refresh_token, expires, now))
    }

    /// A success that ends the session in this browser: `body`, and with a
    /// cookie transport both cookies cleared and
    /// `Clear-Site-Data: "cookies"`. [`Transport::Headers`] sets no cookie.
    pub fn logged_out(&self, body: &Value) -> Answer {
        let answer = Answer::json(200, body);
        if !self.transport().uses_cookies() {
            return answer;
        }
        answer
            .set_cookie(self.cookies().clear_access_cookie())
            .set_cookie(self.cookies().clear_refresh_cookie())
            .header("clear-site-data", "\"cookies\"")
    }
}
