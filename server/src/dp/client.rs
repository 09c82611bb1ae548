//! The DP agent's HTTP client to its site. Over `https://` the site's certificate is checked
//! against the system's trust store, or pinned: the SHA-256 of the certificate the site showed
//! at enrollment, and nothing else, afterwards.

use std::{sync::Arc, time::Duration};

use domain::{
    distribution::{
        agent::{ChunkStream, SiteClient},
        protocol::{
            ChunksRequest, DemandRequest, DemandResponse, EnrollRequest, EnrollResponse,
            PollRequest, PollResponse, StatusReport,
        },
    },
    jobs::BoxFuture,
};
use futures::TryStreamExt;
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    pki_types::{CertificateDer, ServerName, UnixTime},
};
use sha2::{Digest, Sha256};

/// How the site's certificate is trusted over `https://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The system's trust store.
    System,
    /// Exactly this certificate (SHA-256 of its DER, lower-case hex).
    Pinned(String),
    /// Whatever the site shows, recorded (enrollment, to pin it from then on).
    FirstUse,
}

/// A site, as a DP reaches it.
pub struct HttpSite {
    base: String,
    credential: String,
    http: reqwest::Client,
    /// The certificate the site showed (over `https://`).
    seen: Arc<std::sync::Mutex<Option<String>>>,
}

fn client_error(e: reqwest::Error) -> domain::Error {
    domain::Error::Conflict(format!("the site could not be reached: {e}"))
}

impl HttpSite {
    /// A client for `site` (`http://host:port` or `https://…`).
    pub fn new(site: &str, credential: &str, trust: Trust) -> domain::Result<Self> {
        let base = site.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(domain::Error::InvalidInput {
                field: "site",
                message: "must start with http:// or https://".into(),
            });
        }
        let seen = Arc::new(std::sync::Mutex::new(None));
        // A site that stops sending mid-answer is given up on (the agent tries again).
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(120))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90));
        if base.starts_with("https://") && trust != Trust::System {
            // ring, as reqwest is built with; its post-quantum key exchange is not needed for
            // a pinned certificate.
            #[allow(deprecated)]
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(PinVerifier {
                pin: match &trust {
                    Trust::Pinned(pin) => Some(pin.to_lowercase()),
                    _ => None,
                },
                seen: seen.clone(),
                provider: provider.clone(),
            });
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| domain::Error::Internal(e.to_string()))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            builder = builder.use_preconfigured_tls(config);
        }
        Ok(Self {
            base,
            credential: credential.to_owned(),
            http: builder
                .build()
                .map_err(|e| domain::Error::Internal(e.to_string()))?,
            seen,
        })
    }

    /// The SHA-256 of the certificate the site showed, once connected over `https://`.
    pub fn certificate_seen(&self) -> Option<String> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Trades an enrollment token for the DP's credential.
    pub async fn enroll(&self, request: &EnrollRequest) -> domain::Result<EnrollResponse> {
        let response = self
            .http
            .post(self.url("/dp/v1/enroll"))
            .json(request)
            .send()
            .await
            .map_err(client_error)?;
        decode(response).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> domain::Result<reqwest::Response> {
        let response = request
            .bearer_auth(&self.credential)
            .send()
            .await
            .map_err(client_error)?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(status_error(response).await)
        }
    }
}

async fn status_error(response: reqwest::Response) -> domain::Error {
    let status = response.status();
    let message = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("the site answered {status}"));
    match status.as_u16() {
        401 => domain::Error::Unauthenticated,
        404 => domain::Error::NotFound(message),
        400 => domain::Error::InvalidInput {
            field: "request",
            message,
        },
        _ => domain::Error::Conflict(message),
    }
}

async fn decode<T: serde::de::DeserializeOwned>(response: reqwest::Response) -> domain::Result<T> {
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    response
        .json()
        .await
        .map_err(|e| domain::Error::Conflict(format!("the site's answer was not understood: {e}")))
}

impl SiteClient for HttpSite {
    fn poll<'a>(&'a self, request: &'a PollRequest) -> BoxFuture<'a, domain::Result<PollResponse>> {
        Box::pin(async move {
            let response = self
                .send(
                    self.http
                        .post(self.url("/dp/v1/poll"))
                        .timeout(Duration::from_secs(u64::from(request.wait_secs) + 30))
                        .json(request),
                )
                .await?;
            decode(response).await
        })
    }

    fn manifest<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, domain::Result<Vec<u8>>> {
        Box::pin(async move {
            let response = self
                .send(
                    self.http
                        .get(self.url(&format!("/dp/v1/manifests/{sha256}"))),
                )
                .await?;
            // No manifest is larger than what `Manifest::parse` takes.
            if response
                .content_length()
                .is_some_and(|n| n > domain::content::manifest::MAX_MANIFEST_BYTES as u64)
            {
                return Err(domain::Error::Conflict(
                    "the site sent a manifest too large to be one".into(),
                ));
            }
            Ok(response.bytes().await.map_err(client_error)?.to_vec())
        })
    }

    fn chunks<'a>(
        &'a self,
        request: &'a ChunksRequest,
    ) -> BoxFuture<'a, domain::Result<ChunkStream>> {
        Box::pin(async move {
            let response = self
                .send(self.http.post(self.url("/dp/v1/chunks")).json(request))
                .await?;
            let stream = response.bytes_stream().map_err(std::io::Error::other);
            Ok(Box::pin(stream) as ChunkStream)
        })
    }

    fn report<'a>(&'a self, report: &'a StatusReport) -> BoxFuture<'a, domain::Result<()>> {
        Box::pin(async move {
            self.send(self.http.post(self.url("/dp/v1/report")).json(report))
                .await?;
            Ok(())
        })
    }

    fn demand<'a>(
        &'a self,
        request: &'a DemandRequest,
    ) -> BoxFuture<'a, domain::Result<DemandResponse>> {
        Box::pin(async move {
            let response = self
                .send(self.http.post(self.url("/dp/v1/demand")).json(request))
                .await?;
            decode(response).await
        })
    }
}

/// Accepts exactly the pinned certificate (or, without a pin, records the one shown); the
/// handshake's signatures are still checked with it.
#[derive(Debug)]
struct PinVerifier {
    pin: Option<String>,
    seen: Arc<std::sync::Mutex<Option<String>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let sha = hex::encode(Sha256::digest(end_entity.as_ref()));
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(sha.clone());
        match &self.pin {
            Some(pin) if *pin != sha => Err(rustls::Error::General(format!(
                "the site's certificate (SHA-256 {sha}) is not the one pinned at enrollment ({pin})"
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
