//! A loopback DNS server (hickory-server) answering TXT look-ups from a
//! table the test changes as it goes: records appear, disappear, time out
//! or fail (SERVFAIL) on cue.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_server::authority::MessageResponseBuilder;
use hickory_server::proto::op::{Header, ResponseCode};
use hickory_server::proto::rr::rdata::TXT;
use hickory_server::proto::rr::{RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::ServerFuture;

#[derive(Clone)]
enum Answer {
    Txt(Vec<String>),
    ServFail,
    /// Never answers (the resolver times out).
    Silent,
}

type Table = Arc<Mutex<HashMap<String, Answer>>>;

struct Zone(Table);

#[async_trait::async_trait]
impl RequestHandler for Zone {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let query = request.query().original().clone();
        let name = query.name().to_ascii().trim_end_matches('.').to_lowercase();
        let answer = self.0.lock().unwrap().get(&name).cloned();
        let builder = MessageResponseBuilder::from_message_request(request);
        let mut header = Header::response_from_request(request.header());
        header.set_authoritative(true);
        let sent = match answer {
            Some(Answer::Silent) => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return ResponseInfo::from(header);
            }
            Some(Answer::ServFail) => {
                response
                    .send_response(builder.error_msg(request.header(), ResponseCode::ServFail))
                    .await
            }
            Some(Answer::Txt(values)) => {
                let records: Vec<Record> = values
                    .iter()
                    .map(|v| {
                        Record::from_rdata(
                            query.name().clone(),
                            60,
                            RData::TXT(TXT::new(vec![v.clone()])),
                        )
                    })
                    .collect();
                response
                    .send_response(builder.build(header, records.iter(), &[], &[], &[]))
                    .await
            }
            None => {
                header.set_response_code(ResponseCode::NXDomain);
                response
                    .send_response(builder.build_no_records(header))
                    .await
            }
        };
        sent.unwrap_or_else(|_| ResponseInfo::from(header))
    }
}

pub struct TestDns {
    pub addr: SocketAddr,
    table: Table,
    _server: tokio::task::JoinHandle<()>,
}

impl TestDns {
    pub async fn start() -> TestDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let table: Table = Arc::default();
        let mut server = ServerFuture::new(Zone(table.clone()));
        server.register_socket(socket);
        let task = tokio::spawn(async move {
            let _ = server.block_until_done().await;
        });
        TestDns {
            addr,
            table,
            _server: task,
        }
    }

    /// The gateway's setting pointing its look-ups here.
    pub fn nameservers(&self) -> String {
        format!("[\"{}\"]", self.addr)
    }

    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let values = values.iter().map(|v| v.to_string()).collect();
        self.table
            .lock()
            .unwrap()
            .insert(name.to_lowercase(), Answer::Txt(values));
    }

    pub fn remove(&self, name: &str) {
        self.table.lock().unwrap().remove(&name.to_lowercase());
    }

    pub fn servfail(&self, name: &str) {
        self.table
            .lock()
            .unwrap()
            .insert(name.to_lowercase(), Answer::ServFail);
    }

    pub fn silent(&self, name: &str) {
        self.table
            .lock()
            .unwrap()
            .insert(name.to_lowercase(), Answer::Silent);
    }
}
