//! The successful answers that carry or end a session: tokens as cookies
//! or JSON, and the logged-out answer.

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use serde_json::{Value, json};
use sessionkit::SessionTokens;

use crate::config::Sessions;

/// The answer to a login or a refresh: `{"user_id","session_handle"}` and
/// both cookies, or in header mode the tokens in the body
/// (`"access_token"`, `"refresh_token"`) and no cookie. Never cached.
pub(crate) fn with_tokens(
    sessions: &Sessions,
    tokens: &SessionTokens,
    header_mode: bool,
) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header(no_store());
    if header_mode {
        return response.json(json!({
            "user_id": tokens.user_id,
            "session_handle": tokens.handle.to_string(),
            "access_token": tokens.access_token.expose(),
            "refresh_token": tokens.refresh_token.expose(),
        }));
    }
    let cookies = sessions.cookies();
    let now = sessions.now();
    // The access cookie lives as long as the refresh token: once the access
    // token expires, the server must still see it to answer
    // `try_refresh_token` and to find the session at logout.
    response.append_header((
        header::SET_COOKIE,
        cookies.access_cookie(&tokens.access_token, tokens.refresh_expires_at, now),
    ));
    response.append_header((
        header::SET_COOKIE,
        cookies.refresh_cookie(&tokens.refresh_token, tokens.refresh_expires_at, now),
    ));
    response.json(json!({
        "user_id": tokens.user_id,
        "session_handle": tokens.handle.to_string(),
    }))
}

/// A success that ends the session in this browser: both cookies cleared
/// and `Clear-Site-Data: "cookies"` (with a cookie transport).
pub(crate) fn logged_out(sessions: &Sessions, body: Value) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response.insert_header(no_store());
    if sessions.uses_cookies() {
        let cookies = sessions.cookies();
        response.append_header((header::SET_COOKIE, cookies.clear_access_cookie()));
        response.append_header((header::SET_COOKIE, cookies.clear_refresh_cookie()));
        response.insert_header((
            HeaderName::from_static("clear-site-data"),
            HeaderValue::from_static("\"cookies\""),
        ));
    }
    response.json(body)
}

/// A JSON answer with per-user data: never cached.
pub(crate) fn private_json(body: Value) -> HttpResponse {
    HttpResponse::Ok().insert_header(no_store()).json(body)
}

pub(crate) fn no_store() -> (HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}
