//! `monitor = dns`: one query over UDP to the real server, passing when the response
//! code is the expected one (`dns_rcode`, NOERROR by default).
//!
//! The query asks for recursion, as `dig` does, so a recursive resolver is checked with
//! any name; the response must carry the query's id and question, so a stray or spoofed
//! datagram is ignored rather than judged.

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde::Serialize;

use super::Target;
use super::check::{Outcome, ProbeError, Progress};
use super::udp::connected_socket;
use crate::config::model::{DnsRcode, DnsType, VirtualServer};

/// A DNS response larger than this is cut; the header and question fit in far less.
const RESPONSE_BUFFER: usize = 4096;

/// A DNS check, from `dns_name`, `dns_type` and `dns_rcode`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DnsCheck {
    /// The name asked for; empty when lvs.cf has no `dns_name` (the probe then fails).
    pub name: String,
    /// The record type asked for.
    pub record_type: DnsType,
    /// The response code that passes.
    pub rcode: DnsRcode,
}

impl DnsCheck {
    /// Reads the `dns_*` keywords of `vs`.
    pub fn from_server(vs: &VirtualServer) -> DnsCheck {
        DnsCheck {
            name: vs.dns_name.clone().unwrap_or_default(),
            record_type: vs.dns_type,
            rcode: vs.dns_rcode,
        }
    }
}

/// Sends the query to `target` and judges the first matching response.
pub async fn probe(check: &DnsCheck, target: Target, progress: &Progress) -> Outcome {
    let query = build_query(check)?;
    let wire = query
        .to_vec()
        .map_err(|e| ProbeError::Config(format!("cannot encode the query: {e}")))?;
    let socket = connected_socket(target).await?;
    socket
        .send(&wire)
        .await
        .map_err(|e| ProbeError::io("send", e))?;
    progress.note(format!(
        "asked {} {}, waiting for the response",
        check.name,
        check.record_type.as_str()
    ));
    let mut buffer = vec![0u8; RESPONSE_BUFFER];
    loop {
        let n = socket
            .recv(&mut buffer)
            .await
            .map_err(|e| ProbeError::io("receive", e))?;
        if let Some(response) = response_to(&query, &buffer[..n]) {
            return judge(check, &response);
        }
        progress.note("ignored a datagram that is not the response");
    }
}

fn build_query(check: &DnsCheck) -> Result<Message, ProbeError> {
    if check.name.is_empty() {
        return Err(ProbeError::Config("dns_name is not set".to_string()));
    }
    let mut name = Name::from_utf8(&check.name)
        .map_err(|e| ProbeError::Config(format!("invalid dns_name '{}': {e}", check.name)))?;
    // Names in lvs.cf are absolute, and so are the ones a response carries back.
    name.set_fqdn(true);
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name, record_type(check.record_type)));
    Ok(query)
}

/// The datagram decoded, if it answers `query`: a response with its id and question.
fn response_to(query: &Message, datagram: &[u8]) -> Option<Message> {
    let response = Message::from_vec(datagram).ok()?;
    let answers = response.metadata.message_type == MessageType::Response
        && response.metadata.id == query.metadata.id
        && response.queries == query.queries;
    answers.then_some(response)
}

fn judge(check: &DnsCheck, response: &Message) -> Outcome {
    let got = response.metadata.response_code;
    let detail = format!(
        "{} ({} answer{})",
        got.to_str(),
        response.answers.len(),
        if response.answers.len() == 1 { "" } else { "s" }
    );
    if got == response_code(check.rcode) {
        Ok(detail)
    } else {
        Err(ProbeError::Mismatch(format!(
            "{detail}, expected {}",
            check.rcode.as_str()
        )))
    }
}

/// lvs.cf's record type as hickory's.
pub fn record_type(record_type: DnsType) -> RecordType {
    match record_type {
        DnsType::A => RecordType::A,
        DnsType::Aaaa => RecordType::AAAA,
        DnsType::Cname => RecordType::CNAME,
        DnsType::Mx => RecordType::MX,
        DnsType::Ns => RecordType::NS,
        DnsType::Ptr => RecordType::PTR,
        DnsType::Soa => RecordType::SOA,
        DnsType::Srv => RecordType::SRV,
        DnsType::Txt => RecordType::TXT,
    }
}

/// lvs.cf's response code as hickory's.
pub fn response_code(rcode: DnsRcode) -> ResponseCode {
    match rcode {
        DnsRcode::NoError => ResponseCode::NoError,
        DnsRcode::FormErr => ResponseCode::FormErr,
        DnsRcode::ServFail => ResponseCode::ServFail,
        DnsRcode::NxDomain => ResponseCode::NXDomain,
        DnsRcode::NotImp => ResponseCode::NotImp,
        DnsRcode::Refused => ResponseCode::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::OpCode;

    fn check() -> DnsCheck {
        DnsCheck {
            name: "www.example.org".into(),
            record_type: DnsType::A,
            rcode: DnsRcode::NoError,
        }
    }

    #[test]
    fn only_the_matching_response_is_judged() {
        let query = build_query(&check()).expect("query");
        let mut response = Message::response(query.metadata.id, OpCode::Query);
        response.add_queries(query.queries.clone());
        let wire = response.to_vec().expect("encode");
        assert!(response_to(&query, &wire).is_some());
        // Another id, another question, the query itself, garbage: ignored.
        let mut other = Message::response(query.metadata.id.wrapping_add(1), OpCode::Query);
        other.add_queries(query.queries.clone());
        assert!(response_to(&query, &other.to_vec().expect("encode")).is_none());
        let mut wrong = Message::response(query.metadata.id, OpCode::Query);
        wrong.add_query(Query::query(
            Name::from_utf8("other.example.org").expect("name"),
            RecordType::A,
        ));
        assert!(response_to(&query, &wrong.to_vec().expect("encode")).is_none());
        assert!(response_to(&query, &query.to_vec().expect("encode")).is_none());
        assert!(response_to(&query, b"\xff\xff").is_none());
    }

    #[test]
    fn the_expected_rcode_passes() {
        let query = build_query(&check()).expect("query");
        let mut response =
            Message::error_msg(query.metadata.id, OpCode::Query, ResponseCode::NXDomain);
        response.add_queries(query.queries.clone());
        assert!(judge(&check(), &response).is_err());
        let nxdomain = DnsCheck {
            rcode: DnsRcode::NxDomain,
            ..check()
        };
        assert!(judge(&nxdomain, &response).is_ok());
    }

    #[test]
    fn an_empty_name_is_refused() {
        let empty = DnsCheck {
            name: String::new(),
            ..check()
        };
        assert!(matches!(build_query(&empty), Err(ProbeError::Config(_))));
    }
}
