//! Every certificate state against verification on/off and origin-CA trust on/off, through a
//! real TLS handshake over loopback: the outcome is exactly what
//! `cdn_core::tls::verify_certificate` says (and anything passes without verification).

mod common;

use cdn_core::tls::verify_certificate;
use cdn_core::{CertProblem, CertState, OriginConfig};
use cdn_net::{cert_problem_io, OriginServer};
use common::*;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

const STATES: [CertState; 5] = [
    CertState::Valid,
    CertState::Expired,
    CertState::SelfSigned,
    CertState::WrongHost,
    CertState::OriginCa,
];

#[tokio::test]
async fn handshake_outcomes_match_the_core_for_every_state_and_mode() {
    let certs = certs();
    let mut origin = OriginServer::start(OriginConfig::default(), ip("127.0.0.30"), certs.clone())
        .await
        .unwrap();
    let mut checked = 0;
    for cert in STATES {
        origin
            .reconfigure(OriginConfig {
                cert,
                ..Default::default()
            })
            .await
            .unwrap();
        for verify in [false, true] {
            for trust_origin_ca in [false, true] {
                let expected: Result<(), CertProblem> = if verify {
                    verify_certificate(cert, trust_origin_ca)
                } else {
                    Ok(())
                };
                let tcp = connect_from(ip("127.0.1.1"), origin.https_addr())
                    .await
                    .unwrap();
                let connector = TlsConnector::from(certs.client_config(verify, trust_origin_ca));
                let name = ServerName::try_from("www.example.com").unwrap();
                let got = match connector.connect(name, tcp).await {
                    Ok(tls) => {
                        // A completed handshake must carry a real HTTP exchange.
                        let r = request_over(tls, get_request("/")).await.unwrap();
                        assert_eq!(r.status, 200);
                        Ok(())
                    }
                    Err(e) => Err(cert_problem_io(&e)
                        .unwrap_or_else(|| panic!("{cert:?}: not a certificate error: {e}"))),
                };
                assert_eq!(
                    got, expected,
                    "cert {cert:?}, verify {verify}, trust origin CA {trust_origin_ca}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 20);
    origin.shutdown().await;
}
