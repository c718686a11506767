//! Link state of the director's own interfaces, from rtnetlink's link notifications:
//! `monitor_links = 1` makes a node whose public or private link fails give up the
//! service at once instead of holding VIPs nobody can reach.

use std::io;

use futures::stream::StreamExt;
use rtnetlink::packet_core::NetlinkPayload;
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::sys::AsyncSocket;
use tokio::sync::mpsc;

/// `RTMGRP_LINK`: the multicast group of link changes.
const LINK_GROUP: u32 = 1;

/// A link changed: its name and whether it can carry traffic now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    /// The device, as in `ip link`.
    pub name: String,
    /// Up, running and with its carrier (lower layer) up.
    pub up: bool,
}

fn name_of(link: &LinkMessage) -> Option<&str> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(name) => Some(name.as_str()),
        _ => None,
    })
}

fn is_up(link: &LinkMessage) -> bool {
    let flags = link.header.flags;
    flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running)
}

/// Watches the named devices: their state now, then every change, on the returned
/// channel, until it is dropped.
pub async fn watch_links(names: Vec<String>) -> io::Result<mpsc::UnboundedReceiver<LinkChange>> {
    let (mut connection, handle, mut messages) = rtnetlink::new_connection()?;
    connection
        .socket_mut()
        .socket_mut()
        .bind(&rtnetlink::sys::SocketAddr::new(0, LINK_GROUP))?;
    tokio::spawn(connection);
    let (changes, rx) = mpsc::unbounded_channel();
    for name in &names {
        let mut links = handle.link().get().match_name(name.clone()).execute();
        match links.next().await {
            Some(Ok(link)) => {
                let _ = changes.send(LinkChange {
                    name: name.clone(),
                    up: is_up(&link),
                });
            }
            Some(Err(e)) => return Err(io::Error::other(format!("link {name}: {e}"))),
            None => return Err(io::Error::other(format!("no link named {name}"))),
        }
    }
    tokio::spawn(async move {
        // The handle keeps the connection alive as long as the watch runs.
        let _handle = handle;
        while let Some((message, _)) = messages.next().await {
            let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) = message.payload
            else {
                continue;
            };
            let Some(name) = name_of(&link).filter(|n| names.iter().any(|w| w == n)) else {
                continue;
            };
            let change = LinkChange {
                name: name.to_string(),
                up: is_up(&link),
            };
            if changes.send(change).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}
