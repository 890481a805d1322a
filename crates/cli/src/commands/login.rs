//! `hb login` / `hb logout`: credentials in Docker's config.json, checked against the registry first.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use hb_image::auth::{self, Credential};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::commands::print;
use crate::context;

pub fn login(a: &LoginArgs) -> Result<ExitCode> {
    let secret = match (&a.password, a.password_stdin) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the password from standard input")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    let cred = Credential {
        username: a.username.clone(),
        secret,
    };
    let client = context::client()?;
    context::runtime()?.block_on(client.check_login(&a.registry, &cred))?;
    let Some(path) = context::docker_config() else {
        bail!("cannot tell where Docker's config.json is: set HOME or DOCKER_CONFIG")
    };
    auth::store(&path, &a.registry, &cred)?;
    print(&format!(
        "login succeeded; credentials for {} stored in {}\n",
        a.registry,
        path.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub fn logout(a: &LogoutArgs) -> Result<ExitCode> {
    let Some(path) = context::docker_config() else {
        bail!("cannot tell where Docker's config.json is: set HOME or DOCKER_CONFIG")
    };
    if auth::remove(&path, &a.registry)? {
        print(&format!("removed the credentials for {}\n", a.registry))?;
    } else {
        print(&format!("no credentials stored for {}\n", a.registry))?;
    }
    Ok(ExitCode::SUCCESS)
}
