//! A real SMTP server on loopback that keeps what it receives: the app's mailer talks
//! to it over TCP exactly as it would to a relay.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

#[derive(Clone, Debug)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl ReceivedMail {
    /// The message with quoted-printable soft breaks and escapes undone.
    pub fn decoded(&self) -> String {
        decode_quoted_printable(&self.data)
    }

    /// The value of the header `name` (first occurrence, unfolded lines only).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The value of the first `token=` query parameter in the message.
    pub fn token(&self) -> String {
        let text = self.decoded();
        let start = text.find("token=").expect("the email carries a token link") + "token=".len();
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
            .collect()
    }
}

#[derive(Clone, Default)]
pub struct Inbox {
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
    /// Messages whose DATA has started arriving.
    started: Arc<std::sync::atomic::AtomicUsize>,
}

impl Inbox {
    pub fn all(&self) -> Vec<ReceivedMail> {
        self.mails.lock().unwrap().clone()
    }

    pub fn to(&self, address: &str) -> Vec<ReceivedMail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits for an email to `address` whose subject contains `needle`.
    pub async fn wait_for_subject(&self, address: &str, needle: &str) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        loop {
            let notified = self.arrived.notified();
            if let Some(mail) = self
                .to(address)
                .into_iter()
                .find(|m| m.subject().contains(needle))
            {
                return mail;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let subjects: Vec<String> = self
                    .to(address)
                    .iter()
                    .map(|m| m.subject().to_string())
                    .collect();
                panic!("no email to {address} about {needle:?} in time; it got {subjects:?}");
            }
        }
    }

    /// Waits for an email to `address`, after the first `seen` ones, whose subject
    /// contains `needle`.
    pub async fn wait_for_new(&self, address: &str, seen: usize, needle: &str) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        loop {
            let notified = self.arrived.notified();
            if let Some(mail) = self
                .to(address)
                .into_iter()
                .skip(seen)
                .find(|m| m.subject().contains(needle))
            {
                return mail;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no new email to {address} about {needle:?} in time; inbox: {:?}",
                    self.to(address)
                        .iter()
                        .map(|m| m.subject())
                        .collect::<Vec<_>>()
                );
            }
        }
    }

    /// Waits until a message is being transferred (DATA started).
    pub async fn wait_for_transfer(&self) {
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        while self.started.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no message transfer began in time"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `count` emails to `address` have arrived and returns the last one.
    pub async fn wait_for(&self, address: &str, count: usize) -> ReceivedMail {
        let deadline = tokio::time::Instant::now() + crate::helpers::PATIENCE;
        loop {
            let notified = self.arrived.notified();
            let mails = self.to(address);
            if mails.len() >= count {
                return mails[count - 1].clone();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "no email #{count} to {address} in time; inbox: {:?}",
                    self.all()
                        .iter()
                        .map(|m| (&m.to, m.subject()))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}

pub struct SmtpSink {
    pub port: u16,
    pub inbox: Inbox,
    task: JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        Self::start_on(0, Inbox::default()).await
    }

    /// Starts on a given port (to bring a "down" server back) with a shared inbox.
    pub async fn start_on(port: u16, inbox: Inbox) -> Self {
        Self::start_slow(port, inbox, Duration::ZERO).await
    }

    /// Like `start_on`, but takes `delay` to accept each message (a slow relay).
    pub async fn start_slow(port: u16, inbox: Inbox, delay: Duration) -> Self {
        Self::start_with(port, inbox, Reply::After(delay)).await
    }

    /// A relay that takes each whole message (it is in `inbox` at once) and then never
    /// answers: no `250`, no error, the connection left open.
    pub async fn start_stalled(inbox: Inbox) -> Self {
        Self::start_with(0, inbox, Reply::Never).await
    }

    async fn start_with(port: u16, inbox: Inbox, reply: Reply) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind SMTP sink");
        let port = listener.local_addr().unwrap().port();
        let served = inbox.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let inbox = served.clone();
                tokio::spawn(async move {
                    let _ = session(stream, inbox, reply).await;
                });
            }
        });
        Self { port, inbox, task }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How the sink answers a message it has taken.
#[derive(Clone, Copy)]
enum Reply {
    /// `250` after this long (the message is in the inbox when the answer goes).
    After(Duration),
    /// The message is in the inbox at once; no answer ever comes.
    Never,
}

async fn session(stream: tokio::net::TcpStream, inbox: Inbox, reply: Reply) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            write
                .write_all(b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("HELO") {
            write.write_all(b"250 sink.test\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = address_of(&command);
            to.clear();
            write.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(address_of(&command));
            write.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            inbox
                .started
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            write
                .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                .await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let content = line.strip_prefix('.').unwrap_or(&line);
                data.push_str(content);
            }
            let keep = |data: String| {
                inbox.mails.lock().unwrap().push(ReceivedMail {
                    from: from.clone(),
                    to: to.clone(),
                    data,
                });
                inbox.arrived.notify_waiters();
            };
            match reply {
                Reply::After(delay) => {
                    tokio::time::sleep(delay).await;
                    keep(data);
                    write.write_all(b"250 OK: queued\r\n").await?;
                }
                Reply::Never => {
                    keep(data);
                    std::future::pending::<()>().await;
                }
            }
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else if upper == "RSET" || upper == "NOOP" {
            write.write_all(b"250 OK\r\n").await?;
        } else {
            write.write_all(b"502 Command not implemented\r\n").await?;
        }
    }
}

fn address_of(command: &str) -> String {
    let start = command.find('<').map(|i| i + 1).unwrap_or(0);
    let end = command.rfind('>').unwrap_or(command.len());
    command[start..end].to_string()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit()
        {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
