//! `cargo run -p actix-app`, then open <http://127.0.0.1:3000> and log in as
//! `alice` / `wonderland` or `bob` / `builder`. Settings come from the
//! environment; see [`app_common::Settings`].

#[actix_web::main]
async fn main() {
    if let Err(e) = actix_app::serve_from_env().await {
        eprintln!("actix-app: {e}");
        std::process::exit(1);
    }
}
