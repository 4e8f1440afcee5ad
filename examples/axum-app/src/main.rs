//! `cargo run -p axum-app`, then open <http://127.0.0.1:3000> and sign in
//! as `alice` / `wonderland` or `bob` / `builder`. Settings come from the
//! environment; see [`app_common::Settings::from_env`].

#[tokio::main]
async fn main() {
    let result = match app_common::Settings::from_env() {
        Ok(settings) => axum_app::serve(settings).await,
        Err(e) => Err(e.into()),
    };
    if let Err(e) = result {
        eprintln!("axum-app: {e}");
        std::process::exit(1);
    }
}
