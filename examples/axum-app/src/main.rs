//! `cargo run -p axum-app`, then open <http://127.0.0.1:3000> and log in as
//! `alice` / `wonderland` or `bob` / `builder`. Settings come from the
//! environment; see [`axum_app::Config`].

#[tokio::main]
async fn main() {
    let result = match axum_app::Config::from_env() {
        Ok(config) => axum_app::serve(config).await,
        Err(message) => Err(message.into()),
    };
    if let Err(e) = result {
        eprintln!("axum-app: {e}");
        std::process::exit(1);
    }
}
