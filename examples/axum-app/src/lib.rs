//! A browser application with sessionkit and axum: password login, the
//! session in two cookies, silent refresh, CSRF checks, the list of the
//! user's sessions with "log out" and "log out everywhere".
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `POST /auth/login` | `{"user_id","session_handle"}` and both cookies (or the tokens in the body with `X-Auth-Mode: header`) |
//! | `GET /api/me` | `{"user_id","session_handle"}` |
//! | `POST /auth/refresh` | new tokens |
//! | `POST /auth/logout` | revokes the session, clears the cookies |
//! | `POST /auth/logout-all` | `{"revoked": N}`: every session of the caller |
//! | `GET /auth/sessions` | `[{"session_handle","created_at","current"}]` |
//! | `DELETE /auth/sessions/{handle}` | revokes one of the caller's sessions |
//! | `GET /.well-known/jwks.json` | the public keys (EdDSA only) |
//!
//! Errors are `{"error": CODE}`. A client that gets `try_refresh_token`
//! calls `/auth/refresh` and retries; `unauthorized` and
//! `token_theft_detected` mean "log in again".
//!
//! `/api/me` stands for the application's ordinary API and uses the
//! stateless [`SessionManager::verify`]: no store round trip per request, at
//! the price that a revoked session's access token keeps working until it
//! expires (the access lifetime, 10 minutes by default). The `/auth/*`
//! operations on sessions use [`SessionManager::verify_strict`], so a
//! revoked session cannot list or revoke sessions, and logout uses
//! [`DangerousSessionManager::verify_ignoring_expiry`](sessionkit::dangerous::DangerousSessionManager::verify_ignoring_expiry), so an expired but genuine
//! access token still ends its session.
//!
//! Keys are generated at startup, which is fine for a demo. A real
//! deployment loads them from its secret store, and every instance behind
//! the same load balancer must use the same keys.

use std::error::Error as StdError;
use std::net::SocketAddr;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sessionkit::clock::{Clock, SystemClock};
use sessionkit::store::SessionStore;
use sessionkit::web::{CookieConfig, CsrfPolicy, TokenSourceError, token_from_authorization};
use sessionkit::{
    Algorithm, MemoryStore, RefreshKey, SessionError, SessionHandle, SessionManager, SessionTokens,
    SigningKey, Verified, VerifyError,
};
use time::Duration;

/// The page: one HTML file with inline script and style.
pub const PAGE: &str = include_str!("../../app-common/src/page.html");

/// The request header that selects header mode: tokens in JSON bodies
/// instead of cookies, for clients that are not browsers.
pub const AUTH_MODE_HEADER: &str = "x-auth-mode";

/// The demo users and their passwords.
pub const DEMO_USERS: [(&str, &str); 2] = [("alice", "wonderland"), ("bob", "builder")];

/// A shared store of any kind.
pub type Store = Arc<dyn SessionStore>;

/// Which session store to use.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum StoreKind {
    /// [`MemoryStore`]: one process, sessions lost on restart.
    Memory,
    /// PostgreSQL, at [`Config::database_url`].
    Postgres,
    /// Redis, at [`Config::redis_url`].
    Redis,
}

/// The application's settings, usually from the environment
/// ([`Config::from_env`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen (`SESSIONKIT_ADDR`, default `127.0.0.1:3000`).
    pub addr: SocketAddr,
    /// The store (`SESSIONKIT_STORE`: `memory`, the default, `postgres` or
    /// `redis`).
    pub store: StoreKind,
    /// `DATABASE_URL`, for the PostgreSQL store.
    pub database_url: String,
    /// `REDIS_URL`, for the Redis store.
    pub redis_url: String,
    /// The access-token lifetime (`SESSIONKIT_ACCESS_TTL_SECS`, default 600).
    pub access_ttl: Duration,
    /// The refresh grace window (`SESSIONKIT_GRACE_SECS`, default 10).
    pub grace: Duration,
    /// The JWT leeway (`SESSIONKIT_LEEWAY_SECS`, default 30).
    pub leeway: Duration,
    /// The signing algorithm (`SESSIONKIT_ALG`: `HS256`, the default, or
    /// `EdDSA`).
    pub algorithm: Algorithm,
    /// The origins allowed to make cookie-authenticated state-changing
    /// requests (`SESSIONKIT_ORIGINS`, comma-separated; default
    /// `http://ADDR` and `http://localhost:PORT`).
    pub origins: Vec<String>,
}

impl Config {
    /// The defaults for a server listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            store: StoreKind::Memory,
            database_url: "postgres://postgres@127.0.0.1:5432/test".to_owned(),
            redis_url: "redis://127.0.0.1:6379".to_owned(),
            access_ttl: Duration::seconds(600),
            grace: Duration::seconds(10),
            leeway: Duration::seconds(30),
            algorithm: Algorithm::Hs256,
            origins: default_origins(addr),
        }
    }

    /// The settings from the environment variables named on each field.
    ///
    /// # Errors
    /// A message naming the variable that could not be understood.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let addr = match var("SESSIONKIT_ADDR") {
            Some(a) => a
                .parse()
                .map_err(|_| format!("SESSIONKIT_ADDR: not an address: {a}"))?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        let mut config = Self::new(addr);
        if let Some(store) = var("SESSIONKIT_STORE") {
            config.store = match store.as_str() {
                "memory" => StoreKind::Memory,
                "postgres" => StoreKind::Postgres,
                "redis" => StoreKind::Redis,
                other => return Err(format!("SESSIONKIT_STORE: unknown store {other}")),
            };
        }
        if let Some(url) = var("DATABASE_URL") {
            config.database_url = url;
        }
        if let Some(url) = var("REDIS_URL") {
            config.redis_url = url;
        }
        let seconds = |name: &str, default: Duration| -> Result<Duration, String> {
            match var(name) {
                Some(v) => v
                    .parse::<i64>()
                    .map(Duration::seconds)
                    .map_err(|_| format!("{name}: not a number of seconds: {v}")),
                None => Ok(default),
            }
        };
        config.access_ttl = seconds("SESSIONKIT_ACCESS_TTL_SECS", config.access_ttl)?;
        config.grace = seconds("SESSIONKIT_GRACE_SECS", config.grace)?;
        config.leeway = seconds("SESSIONKIT_LEEWAY_SECS", config.leeway)?;
        if let Some(alg) = var("SESSIONKIT_ALG") {
            config.algorithm = match alg.as_str() {
                "HS256" => Algorithm::Hs256,
                "EdDSA" => Algorithm::EdDsa,
                other => return Err(format!("SESSIONKIT_ALG: unknown algorithm {other}")),
            };
        }
        if let Some(origins) = var("SESSIONKIT_ORIGINS") {
            config.origins = origins
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect();
        }
        Ok(config)
    }

    /// Connects to the configured store (and creates the PostgreSQL table
    /// if it is missing).
    ///
    /// # Errors
    /// The store's error when it cannot be reached.
    pub async fn connect_store(&self) -> Result<Store, sessionkit::store::StoreError> {
        Ok(match self.store {
            StoreKind::Memory => Arc::new(MemoryStore::new()),
            StoreKind::Postgres => {
                let store = sessionkit_postgres::PostgresStore::connect(&self.database_url).await?;
                store.migrate().await?;
                Arc::new(store)
            }
            StoreKind::Redis => {
                Arc::new(sessionkit_redis::RedisStore::connect(&self.redis_url).await?)
            }
        })
    }

    /// A session manager over `store`, with fresh random keys and the
    /// configured lifetimes, reading the time from `clock`.
    ///
    /// # Errors
    /// A lifetime out of range, or no randomness for the keys.
    pub fn manager(
        &self,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<SessionManager<Store>, sessionkit::ConfigError> {
        let signing_key = match self.algorithm {
            Algorithm::EdDsa => SigningKey::generate_ed25519("demo-ed25519")?,
            _ => SigningKey::generate_hs256("demo-hs256")?,
        };
        SessionManager::builder(store)
            .signing_key(signing_key)
            .refresh_key(RefreshKey::generate(1)?)
            .access_ttl(self.access_ttl)
            .grace(self.grace)
            .leeway(self.leeway)
            .clock(SharedClock(clock))
            .build()
    }
}

fn default_origins(addr: SocketAddr) -> Vec<String> {
    vec![
        format!("http://{addr}"),
        format!("http://localhost:{}", addr.port()),
    ]
}

/// A clock shared between the manager and the cookie expiries.
struct SharedClock(Arc<dyn Clock>);

impl Clock for SharedClock {
    fn now(&self) -> time::OffsetDateTime {
        self.0.now()
    }
}

/// The demo users' password hashes (Argon2id, PHC strings), and a hash of
/// nothing in particular to check unknown users against, so that the
/// answer takes as long for them.
struct Users {
    known: Vec<(String, String)>,
    dummy: String,
}

impl Users {
    fn demo() -> Result<Self, argon2::password_hash::Error> {
        let argon2 = Argon2::default();
        let mut known = Vec::new();
        for (user, password) in DEMO_USERS {
            let hash = argon2.hash_password(password.as_bytes())?.to_string();
            known.push((user.to_owned(), hash));
        }
        let dummy = argon2
            .hash_password(b"no user has this password")?
            .to_string();
        Ok(Self { known, dummy })
    }

    /// The user id if the password is right. Always runs one Argon2
    /// verification, whether the user exists or not.
    fn check(&self, username: &str, password: &str) -> Option<String> {
        let found = self.known.iter().find(|(u, _)| u == username);
        let hash = found.map_or(self.dummy.as_str(), |(_, h)| h.as_str());
        let ok = PasswordHash::new(hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        });
        match found {
            Some((user, _)) if ok => Some(user.clone()),
            _ => None,
        }
    }
}

/// What every handler shares. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    manager: SessionManager<Store>,
    cookies: CookieConfig,
    csrf: CsrfPolicy,
    users: Arc<Users>,
    clock: Arc<dyn Clock>,
}

impl AppState {
    /// The state for `config` over `store`, reading the time from `clock`
    /// (the system clock in production, a manual one in tests). Hashes the
    /// demo users' passwords.
    ///
    /// # Errors
    /// An invalid setting or allowed origin, or no randomness.
    pub fn new(
        config: &Config,
        store: Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Box<dyn StdError + Send + Sync>> {
        Ok(Self {
            manager: config.manager(store, Arc::clone(&clock))?,
            cookies: CookieConfig::default(),
            csrf: CsrfPolicy::new(&config.origins)?,
            users: Arc::new(Users::demo()?),
            clock,
        })
    }

    /// The session manager.
    pub fn manager(&self) -> &SessionManager<Store> {
        &self.manager
    }

    /// The cookie settings.
    pub fn cookies(&self) -> &CookieConfig {
        &self.cookies
    }
}

/// The application's routes.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/auth/login", post(login))
        .route("/api/me", get(me))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/auth/logout-all", post(logout_all))
        .route("/auth/sessions", get(sessions))
        .route("/auth/sessions/{handle}", delete(revoke_session))
        .route("/.well-known/jwks.json", get(jwks))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
        })
        .layer(axum::middleware::map_response(no_store))
        .with_state(state)
}

/// Connects the configured store and serves the application until Ctrl-C.
///
/// # Errors
/// The store cannot be reached, the address cannot be bound, or a setting
/// is invalid.
pub async fn serve(config: Config) -> Result<(), Box<dyn StdError + Send + Sync>> {
    let store = config.connect_store().await?;
    let state = AppState::new(&config, store, Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

// ---- responses ------------------------------------------------------------

/// An error answer: `{"error": code}`, optionally clearing the cookies.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    clear: Option<[String; 2]>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str) -> Self {
        Self {
            status,
            code,
            clear: None,
        }
    }

    fn from_parts(status: u16, code: &'static str) -> Self {
        Self::new(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code,
        )
    }

    fn clearing(mut self, cookies: &CookieConfig) -> Self {
        self.clear = Some(clear_cookies(cookies));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.code }))).into_response();
        for cookie in self.clear.iter().flatten() {
            append_cookie(response.headers_mut(), cookie);
        }
        response
    }
}

impl From<VerifyError> for ApiError {
    fn from(e: VerifyError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<TokenSourceError> for ApiError {
    fn from(e: TokenSourceError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<sessionkit::web::CsrfError> for ApiError {
    fn from(e: sessionkit::web::CsrfError) -> Self {
        Self::from_parts(e.http_status(), e.error_code())
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found"),
            _ => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }
}

fn clear_cookies(cookies: &CookieConfig) -> [String; 2] {
    [
        cookies.clear_access_cookie(),
        cookies.clear_refresh_cookie(),
    ]
}

fn append_cookie(headers: &mut HeaderMap, cookie: &str) {
    // Our cookies are names, tokens and attributes: always valid header text.
    if let Ok(value) = HeaderValue::from_str(cookie) {
        headers.append(header::SET_COOKIE, value);
    }
}

/// Nothing this application answers may be cached: responses carry tokens
/// or per-user data (SEC-35).
async fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A success answer that ends the session in this browser: both cookies
/// cleared and `Clear-Site-Data: "cookies"`.
fn logged_out(state: &AppState, body: Value) -> Response {
    let mut response = Json(body).into_response();
    for cookie in clear_cookies(&state.cookies) {
        append_cookie(response.headers_mut(), &cookie);
    }
    response.headers_mut().insert(
        HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"cookies\""),
    );
    response
}

/// The answer to a login or a refresh: the cookies, or in header mode the
/// tokens in the body.
fn with_tokens(state: &AppState, tokens: &SessionTokens, header_mode: bool) -> Response {
    if header_mode {
        return Json(json!({
            "user_id": tokens.user_id,
            "session_handle": tokens.handle.to_string(),
            "access_token": tokens.access_token.expose(),
            "refresh_token": tokens.refresh_token.expose(),
        }))
        .into_response();
    }
    let body = json!({
        "user_id": tokens.user_id,
        "session_handle": tokens.handle.to_string(),
    });
    let now = state.clock.now();
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    // The access cookie lives as long as the refresh token: once the access
    // token expires, the server must still see it to answer
    // `try_refresh_token` and to find the session at logout.
    let access = state
        .cookies
        .access_cookie(&tokens.access_token, tokens.refresh_expires_at, now);
    let refresh =
        state
            .cookies
            .refresh_cookie(&tokens.refresh_token, tokens.refresh_expires_at, now);
    append_cookie(headers, &access);
    append_cookie(headers, &refresh);
    response
}

// ---- request helpers ------------------------------------------------------

fn header_mode(headers: &HeaderMap) -> bool {
    headers
        .get(AUTH_MODE_HEADER)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"header"))
}

fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a [u8]> {
    headers.get_all(name).iter().map(HeaderValue::as_bytes)
}

/// The CSRF check for a cookie-authenticated state-changing request
/// (SEC-38).
fn check_csrf(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    state.csrf.check(
        values(headers, header::ORIGIN.as_str()),
        values(headers, "sec-fetch-site"),
    )?;
    Ok(())
}

/// The access token: from `Authorization: Bearer` when the request has that
/// header, from the access cookie otherwise (SEC-06). Cookie-authenticated
/// requests that change state pass the CSRF check first.
fn access_token<'a>(
    state: &AppState,
    headers: &'a HeaderMap,
    method: &Method,
) -> Result<&'a str, ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(token_from_authorization(values(
            headers,
            header::AUTHORIZATION.as_str(),
        ))?);
    }
    if method != Method::GET && method != Method::HEAD {
        check_csrf(state, headers)?;
    }
    Ok(state
        .cookies
        .access_token_from_cookies(values(headers, header::COOKIE.as_str()))?)
}

/// The caller of an operation on sessions, checked against the store.
async fn strict_caller(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Verified, ApiError> {
    let token = access_token(state, headers, method)?;
    Ok(state.manager.verify_strict(token).await?)
}

// ---- handlers -------------------------------------------------------------

async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'; form-action 'none'; base-uri 'none'",
        ),
    );
    response
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

async fn login(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    login_inner(&state, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn login_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let header_mode = header_mode(headers);
    if !header_mode {
        // Login CSRF: another site must not log the browser into an
        // account of its choosing.
        check_csrf(state, headers)?;
    }
    let request: LoginRequest = serde_json::from_slice(body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "bad_request"))?;
    let users = Arc::clone(&state.users);
    let user =
        tokio::task::spawn_blocking(move || users.check(&request.username, &request.password))
            .await
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal"))?
            .ok_or(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            ))?;
    let tokens = state.manager.create(&user).await?;
    Ok(with_tokens(state, &tokens, header_mode))
}

async fn me(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let token = access_token(&state, &headers, &method)?;
    let verified = state.manager.verify(token)?;
    Ok(Json(json!({
        "user_id": verified.user_id(),
        "session_handle": verified.session_handle().to_string(),
    })))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

async fn refresh(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    refresh_inner(&state, &headers, &body)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn refresh_inner(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let header_mode = header_mode(headers);
    let unauthorized = |e: ApiError| e.clearing(&state.cookies);
    let from_body;
    let token = if header_mode {
        from_body = serde_json::from_slice::<RefreshRequest>(body)
            .map_err(|_| unauthorized(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized")))?
            .refresh_token;
        from_body.as_str()
    } else {
        check_csrf(state, headers)?;
        state
            .cookies
            .refresh_token_from_cookies(values(headers, header::COOKIE.as_str()))
            .map_err(|e| unauthorized(e.into()))?
    };
    match state.manager.refresh(token).await {
        Ok(tokens) => Ok(with_tokens(state, &tokens, header_mode)),
        Err(e) => {
            let error = ApiError::from_parts(e.http_status(), e.error_code());
            Err(if e.http_status() == 401 {
                unauthorized(error)
            } else {
                error
            })
        }
    }
}

async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = access_token(&state, &headers, &method)?;
    let verified = state
        .manager
        .dangerous()
        .verify_ignoring_expiry(token)
        .map_err(|e| ApiError::from(e).clearing(&state.cookies))?;
    let revoked = state.manager.revoke(&verified.session_handle()).await?;
    Ok(logged_out(&state, json!({ "revoked": u8::from(revoked) })))
}

async fn logout_all(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = strict_caller(&state, &headers, &method).await?;
    let revoked = state
        .manager
        .revoke_all_for_user(caller.user_id(), None)
        .await?;
    Ok(logged_out(&state, json!({ "revoked": revoked })))
}

async fn sessions(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = strict_caller(&state, &headers, &method).await?;
    let current = caller.session_handle();
    let list: Vec<Value> = state
        .manager
        .sessions_for_user(caller.user_id())
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "session_handle": s.handle.to_string(),
                "created_at": s.created_at.unix_timestamp(),
                "current": s.handle == current,
            })
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn revoke_session(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path(handle): Path<String>,
) -> Result<Response, ApiError> {
    let caller = strict_caller(&state, &headers, &method).await?;
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not_found");
    let handle: SessionHandle = handle.parse().map_err(|_| not_found())?;
    // Another user's session is answered exactly like a missing one.
    let owned = state
        .manager
        .session(&handle)
        .await?
        .is_some_and(|s| s.user_id == caller.user_id());
    if !owned || !state.manager.revoke(&handle).await? {
        return Err(not_found());
    }
    if handle == caller.session_handle() {
        return Ok(logged_out(&state, json!({ "revoked": 1 })));
    }
    Ok(Json(json!({ "revoked": 1 })).into_response())
}

async fn jwks(State(state): State<AppState>) -> Result<Response, ApiError> {
    let jwks = state.manager.jwks();
    if jwks.keys().is_empty() {
        // HS256: there is no public key to publish.
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found"));
    }
    Ok((
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        jwks.to_json(),
    )
        .into_response())
}
