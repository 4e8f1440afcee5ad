//! A plain HTTP client for the suites: every header written by hand (no
//! cookie store, no redirects), every answer read whole.

use reqwest::Method;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::Value;

/// The default access cookie's name.
pub const ACCESS: &str = "__Host-sk-access";
/// The default refresh cookie's name.
pub const REFRESH: &str = "__Secure-sk-refresh";

/// A client of one application.
#[derive(Clone, Debug)]
pub struct Client {
    base: String,
    http: reqwest::Client,
}

/// A request being built: method, path, headers and body.
#[derive(Debug)]
pub struct Request<'a> {
    client: &'a Client,
    method: Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` if it is not JSON).
    pub json: Value,
}

/// The values of the session cookies, as a browser would keep them.
#[derive(Clone, Debug)]
pub struct Jar {
    /// The access cookie's value.
    pub access: String,
    /// The refresh cookie's value.
    pub refresh: String,
}

impl Client {
    /// A client of the application at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
        }
    }

    /// A request.
    pub fn request(&self, method: Method, path: &str) -> Request<'_> {
        Request {
            client: self,
            method,
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A `GET`.
    pub fn get(&self, path: &str) -> Request<'_> {
        self.request(Method::GET, path)
    }

    /// A `POST`.
    pub fn post(&self, path: &str) -> Request<'_> {
        self.request(Method::POST, path)
    }

    /// A `DELETE`.
    pub fn delete(&self, path: &str) -> Request<'_> {
        self.request(Method::DELETE, path)
    }
}

impl Request<'_> {
    /// Adds a header (several of one name are sent as several).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Adds a header when `value` is `Some`.
    pub fn maybe_header(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.header(name, v),
            None => self,
        }
    }

    /// A JSON body.
    pub fn json(mut self, body: &Value) -> Self {
        self.body = Some(body.to_string());
        self.header("content-type", "application/json")
    }

    /// A raw body.
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    /// Sends it and reads the whole answer.
    ///
    /// # Panics
    /// When the application cannot be reached: the suites report that as a
    /// failure.
    pub async fn send(self) -> Answer {
        let url = format!("{}{}", self.client.base, self.path);
        let mut request = self.client.http.request(self.method.clone(), &url);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = self.body {
            request = request.body(body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.path));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            text,
            json,
        }
    }
}

impl Answer {
    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    }

    /// The `Set-Cookie` value for `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// A header's value as text (`""` when absent).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }

    /// The `error` code of a JSON error body (`""` when there is none).
    pub fn error(&self) -> &str {
        self.json["error"].as_str().unwrap_or("")
    }

    /// Asserts the status and the error code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.error()), (status, code), "{}", self.text);
    }

    /// Asserts a 200.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert_eq!(self.status, 200, "{}", self.text);
    }

    /// Asserts that both session cookies are cleared: same name, empty,
    /// `Max-Age=0`.
    #[track_caller]
    pub fn assert_clears_both_cookies(&self) {
        for name in [ACCESS, REFRESH] {
            let c = self
                .set_cookie(name)
                .unwrap_or_else(|| panic!("no Set-Cookie for {name}: {:?}", self.set_cookies()));
            assert!(c.starts_with(&format!("{name}=;")), "{c}");
            assert!(c.contains("Max-Age=0"), "{c}");
        }
    }

    /// Asserts `Cache-Control: no-store`.
    #[track_caller]
    pub fn assert_no_store(&self) {
        assert_eq!(
            self.header("cache-control"),
            "no-store",
            "{:?}",
            self.headers
        );
    }

    /// Asserts that the answer ends the session in the browser: both
    /// cookies cleared, `Clear-Site-Data: "cookies"`, `no-store`.
    #[track_caller]
    pub fn assert_logged_out(&self) {
        self.assert_clears_both_cookies();
        assert_eq!(self.header("clear-site-data"), "\"cookies\"");
        self.assert_no_store();
    }
}

impl Jar {
    /// The cookies an answer set.
    ///
    /// # Panics
    /// When it set either cookie without a value.
    #[track_caller]
    pub fn from(answer: &Answer) -> Self {
        let value = |name: &str| {
            let c = answer
                .set_cookie(name)
                .unwrap_or_else(|| panic!("no {name} cookie set: {}", answer.text));
            let pair = c.split(';').next().unwrap_or_default();
            pair.get(name.len() + 1..).unwrap_or_default().to_owned()
        };
        Self {
            access: value(ACCESS),
            refresh: value(REFRESH),
        }
    }

    /// `Cookie:` with the access cookie.
    pub fn access_header(&self) -> String {
        format!("{ACCESS}={}", self.access)
    }

    /// `Cookie:` with the refresh cookie.
    pub fn refresh_header(&self) -> String {
        format!("{REFRESH}={}", self.refresh)
    }

    /// `Cookie:` with both, as the browser sends to the `/auth` routes.
    pub fn both_header(&self) -> String {
        format!("{}; {}", self.access_header(), self.refresh_header())
    }
}

/// The attributes of a `Set-Cookie` value, sorted.
pub fn attributes(set_cookie: &str) -> Vec<String> {
    let mut attrs: Vec<String> = set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect();
    attrs.sort();
    attrs
}
