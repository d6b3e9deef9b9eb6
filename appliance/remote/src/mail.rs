//! Failure mails over SMTP ([`lettre`], rustls; no OpenSSL): when a
//! scheduled run has failures, a plain-text mail lists the failing hosts
//! with what went wrong.
//!
//! STARTTLS is *required* when chosen (no silent fallback to plain text);
//! certificates are checked against the Mozilla roots (`webpki-roots`).
//! SMTP AUTH only when a user name is set.

use std::time::Duration;

use bootbox_store::jobs::ScheduleRun;
use bootbox_store::secrets::{MailSecurity, MailSettings};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{RemoteError, Result};

fn err(reason: impl std::fmt::Display) -> RemoteError {
    RemoteError::Mail(reason.to_string())
}

/// Subject and body of the failure mail of one run.
pub fn failure_text(run: &ScheduleRun) -> (String, String) {
    let subject = format!(
        "[bootbox] schedule {}: {} host(s) failed",
        run.schedule,
        run.failed_hosts.len()
    );
    let mut body = format!(
        "Schedule {} (run {}) ended with failures.\n\n{}\n\nFailed hosts:\n",
        run.schedule, run.id, run.summary
    );
    let hosts = run
        .report
        .as_ref()
        .and_then(|r| r.get("hosts"))
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    for host in &run.failed_hosts {
        let detail = hosts
            .iter()
            .find(|h| h.get("host").and_then(|x| x.as_str()) == Some(host))
            .map(host_detail)
            .unwrap_or_default();
        body.push_str(&format!("- {host} {detail}\n"));
    }
    if run.failed_hosts.is_empty() {
        body.push_str("(the run could not start)\n");
    }
    body.push_str("\nSent by Bootbox.\n");
    (subject, body)
}

/// `failed (sync:1=0 start:1=3): reason` from one host of a job report.
fn host_detail(h: &serde_json::Value) -> String {
    let mut d = h
        .get("status")
        .and_then(|x| x.as_str())
        .unwrap_or("")
        .to_string();
    let cmds: Vec<String> = h
        .get("commands")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .map(|c| {
                    let name = c.get("command").and_then(|x| x.as_str()).unwrap_or("?");
                    match c.get("exit_code").and_then(|x| x.as_i64()) {
                        Some(code) => format!("{name}={code}"),
                        None => format!("{name}=-"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    if !cmds.is_empty() {
        d.push_str(&format!(" ({})", cmds.join(" ")));
    }
    if let Some(e) = h.get("error").and_then(|x| x.as_str()) {
        d.push_str(&format!(": {e}"));
    }
    d
}

/// Sends one plain-text mail with `settings`.
pub async fn send(
    settings: &MailSettings,
    subject: &str,
    body: &str,
    timeout: Duration,
) -> Result<()> {
    settings.check().map_err(err)?;
    let from: Mailbox = settings
        .from
        .trim()
        .parse()
        .map_err(|e| err(format!("sender: {e}")))?;
    let mut msg = Message::builder().from(from).subject(subject);
    for to in &settings.to {
        let to: Mailbox = to
            .trim()
            .parse()
            .map_err(|e| err(format!("recipient {to}: {e}")))?;
        msg = msg.to(to);
    }
    let msg = msg
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(err)?;
    let host = settings.host.trim();
    let tls = match settings.security {
        MailSecurity::None => Tls::None,
        MailSecurity::Starttls => Tls::Required(TlsParameters::new(host.to_string()).map_err(err)?),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(user) = settings.username.as_deref().filter(|u| !u.is_empty()) {
        transport = transport.credentials(Credentials::new(
            user.to_string(),
            settings.password.clone().unwrap_or_default(),
        ));
    }
    let mailer = transport.build();
    tokio::time::timeout(timeout, mailer.send(msg))
        .await
        .map_err(|_| {
            err(format!(
                "no answer from {host} within {} s",
                timeout.as_secs()
            ))
        })?
        .map_err(|e| err(format!("{host}:{}: {e}", settings.port)))?;
    Ok(())
}
