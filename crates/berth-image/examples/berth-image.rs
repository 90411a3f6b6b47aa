//! A stand-alone `berth-image` binary for testing the crate without the
//! `berth` binary: `berth-image [--store DIR] VERB ...` is `berth image ...`.
use clap::Parser;

#[derive(Parser)]
#[command(name = "berth-image")]
struct Cli {
    #[command(flatten)]
    image: berth_image::ImageCli,
}

fn main() {
    let cli = Cli::parse();
    match berth_image::run(cli.image) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("berth image: {e:#}");
            std::process::exit(1);
        }
    }
}
