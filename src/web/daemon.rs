//! The UI's only way to the daemon: one control-socket request at a time, off the async
//! threads (the control client is blocking and the daemon answers in milliseconds).

use std::path::PathBuf;
use std::time::Duration;

use crate::control::{self, Request, Response};

/// How long a page waits for the daemon (a restart reprograms the table).
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request` to the daemon at `socket`; the error is a sentence for the page.
pub async fn ask(socket: PathBuf, request: Request) -> Result<Response, String> {
    let answer =
        tokio::task::spawn_blocking(move || control::request(&socket, &request, TIMEOUT)).await;
    match answer {
        Ok(Ok(Response::Error { message })) => Err(message),
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the request to the daemon failed: {e}")),
    }
}
