//! Middleware in front of every route: security headers, the cross-site check for state-changing
//! requests, and authentication (session cookie → [`RequestContext`]).

use std::net::{IpAddr, SocketAddr};

use app::api::{
    PUBLIC_ENDPOINTS,
    ssr::{RequestContext, SESSION_COOKIE},
};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use domain::{Domain, SessionToken, accounts::ClientInfo, config::IpNet};

/// Headers every response carries. HTML pages set their own CSP (with the script nonce); every
/// other response gets one that allows nothing.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let is_api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), usb=()",
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            headers,
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_api || is_html {
        set(headers, "cache-control", "no-store");
    }
    response
}

/// Refuses state-changing requests, and websocket upgrades, that a browser sent on behalf of
/// another site. Browsers mark every request with `Sec-Fetch-Site` (or at least `Origin` on a
/// POST or an upgrade); clients that send neither are not browsers and carry no ambient cookies
/// to abuse.
pub(crate) async fn reject_cross_site(request: Request, next: Next) -> Response {
    let safe_method = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let upgrade = request.headers().contains_key(header::UPGRADE);
    if (!safe_method || upgrade) && is_cross_site(request.headers()) {
        tracing::warn!(path = %request.uri().path(), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return !matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, host)| host.trim_end_matches('/'));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    match (origin_host, host) {
        (Some(o), Some(h)) => !o.eq_ignore_ascii_case(h),
        _ => true,
    }
}

/// Resolves the session cookie and attaches a [`RequestContext`]. Without a live session, server
/// functions (other than the public ones) get 401 and pages redirect to the sign-in page.
pub(crate) async fn authenticate(
    State(domain): State<Domain>,
    mut request: Request,
    next: Next,
) -> Response {
    // Checked when the configuration loaded.
    let proxies = domain
        .config()
        .http
        .trusted_proxy_nets()
        .unwrap_or_default();
    let headers = request.headers();
    let session_token = session_cookie(headers).map(|v| SessionToken::from_cookie(&v));
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let via_proxy = peer.is_some_and(|ip| is_trusted(&proxies, ip));
    let client = ClientInfo {
        source_addr: client_addr(headers, peer, via_proxy, &proxies).map(|ip| ip.to_string()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    let tls = via_proxy
        && headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
    let bearer = bearer_token(headers);
    let resolved = match (&bearer, &session_token) {
        // Automation: an API token, on server functions and the other API routes only.
        (Some(secret), _) if request.uri().path().starts_with("/api/") => domain
            .api_tokens()
            .resolve(secret, client.source_addr.as_deref())
            .await
            .map(|actor| (actor, true)),
        (Some(_), _) => Ok((None, true)),
        (None, Some(token)) => domain
            .sessions()
            .resolve(token)
            .await
            .map(|s| (s.map(|s| s.actor), false)),
        (None, None) => Ok((None, false)),
    };
    let (actor, by_token) = match resolved {
        Ok(found) => found,
        Err(e) => {
            tracing::error!("resolving a session or token failed: {e}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is unavailable",
            )
                .into_response();
        }
    };
    // A request with a token is answered as that token alone; its cookie is ignored.
    let session_token = if by_token { None } else { session_token };

    let path = request.uri().path();
    let signed_in = actor.is_some();
    if !signed_in {
        match classify(path) {
            Access::Public => {}
            Access::ServerFunction => return unauthenticated(),
            Access::Page => {
                if request.method() != Method::GET {
                    return unauthenticated();
                }
                let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
                return Redirect::to(&format!("/sign-in?next={}", encode_component(target)))
                    .into_response();
            }
        }
    }
    let actor = actor.map(|a| domain::Actor {
        source_addr: client.source_addr.clone(),
        ..a
    });
    let caller = actor.clone();
    let path = path.to_owned();
    let refusal = std::sync::Arc::new(std::sync::Mutex::new(None));
    request.extensions_mut().insert(RequestContext {
        actor,
        session_token,
        client,
        tls,
        refusal: refusal.clone(),
    });
    let response = next.run(request).await;
    match caller {
        Some(actor) if response.status() == StatusCode::FORBIDDEN => {
            let noted = refusal.lock().ok().and_then(|mut slot| slot.take());
            record_denial(&domain, &actor, &path, noted, response).await
        }
        _ => response,
    }
}

/// Records a refused attempt in the audit log, with what the refusal needed and its message,
/// and passes the response on.
async fn record_denial(
    domain: &Domain,
    actor: &domain::Actor,
    path: &str,
    noted: Option<domain::Refusal>,
    response: Response,
) -> Response {
    use app::api::permissions::{Needs, declared};
    use domain::authz::{ObjectType, Operation};
    let (parts, body) = response.into_parts();
    let (object_type, operation, detail, body) = match noted {
        Some(refusal) => (
            refusal.object,
            refusal.operation,
            format!("you do not have permission to {}", refusal.message),
            body,
        ),
        // The routes outside server functions answer with the JSON error alone; the limit
        // only guards against a surprise. What they need is declared.
        None => {
            let bytes = axum::body::to_bytes(body, 64 * 1024)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let (object, operation) = match declared(path).map(|d| d.needs) {
                Some(Needs::All(pairs) | Needs::Any(pairs)) if !pairs.is_empty() => pairs[0],
                _ => (ObjectType::Security, Operation::Read),
            };
            (object, operation, text, axum::body::Body::from(bytes))
        }
    };
    let entry = domain::audit::Entry {
        user_id: Some(actor.user_id),
        username: actor.username.clone(),
        operation,
        object_type,
        object_id: None,
        object_name: path.to_owned(),
        changes: Default::default(),
        outcome: domain::audit::Outcome::Denied,
        detail,
        source_addr: actor.source_addr.clone().unwrap_or_default(),
    };
    if let Err(e) = domain.audit().record(&entry).await {
        tracing::error!("recording a refused request in the audit log failed: {e}");
    }
    Response::from_parts(parts, body)
}

enum Access {
    Public,
    ServerFunction,
    Page,
}

fn classify(path: &str) -> Access {
    if path.starts_with("/api/") {
        if PUBLIC_ENDPOINTS.contains(&path) {
            Access::Public
        } else {
            Access::ServerFunction
        }
    } else if path.starts_with("/pkg/")
        || matches!(
            path,
            "/sign-in" | "/setup" | "/healthz" | "/readyz" | "/favicon.ico"
        )
    {
        Access::Public
    } else {
        Access::Page
    }
}

/// 401 with the wire error, so the browser's server-function client decodes it.
fn unauthenticated() -> Response {
    let body = serde_json::to_string(&app::AppError::Unauthenticated).unwrap_or_default();
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::UNAUTHORIZED.into_response())
}

/// The secret of an `Authorization: Bearer …` header.
fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

fn is_trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    proxies.iter().any(|net| net.contains(ip))
}

/// The client's address. The peer's, unless the peer is a trusted proxy: then the rightmost
/// `X-Forwarded-For` entry that is not a trusted proxy (entries to its left were written by the
/// client and prove nothing), or the leftmost when every entry is one. An entry that is not an
/// address stops the walk at the last trusted hop.
fn client_addr(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    via_proxy: bool,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !via_proxy {
        return Some(peer);
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(proxies, ip) {
            break;
        }
    }
    Some(client)
}

/// `192.0.2.1`, `2001:db8::1`, and the forms with a port (`192.0.2.1:443`, `[2001:db8::1]:443`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn cross_site_detection() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(!is_cross_site(&headers(&[
            ("origin", "http://h:8080"),
            ("host", "h:8080")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "h:8080")
        ])));
        assert!(is_cross_site(&headers(&[
            ("origin", "null"),
            ("host", "h")
        ])));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; wimdeck_session=tok; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("tok"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "wimdeck_session=")])),
            None
        );
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_entry() {
        let proxies: Vec<IpNet> = ["10.0.0.0/8", "::1"]
            .iter()
            .filter_map(|t| IpNet::parse(t))
            .collect();
        let ip = |t: &str| t.parse::<IpAddr>().expect("ip");
        let client = |xff: &[&'static str], peer: &str| {
            let mut map = HeaderMap::new();
            for value in xff {
                map.append("x-forwarded-for", HeaderValue::from_static(value));
            }
            let peer = ip(peer);
            client_addr(&map, Some(peer), is_trusted(&proxies, peer), &proxies)
                .map(|a| a.to_string())
        };
        // Not from a trusted proxy: the header is the client's own word.
        assert_eq!(
            client(&["203.0.113.7"], "198.51.100.2").as_deref(),
            Some("198.51.100.2")
        );
        // The client wrote the leftmost entry; the proxy appended the real address.
        assert_eq!(
            client(&["203.0.113.7, 198.51.100.9"], "10.0.0.1").as_deref(),
            Some("198.51.100.9")
        );
        // Two proxies: the hops they add are skipped.
        assert_eq!(
            client(&["1.1.1.1, 198.51.100.9, 10.2.3.4"], "10.0.0.1").as_deref(),
            Some("198.51.100.9")
        );
        // Several headers are one list, in order.
        assert_eq!(
            client(&["1.1.1.1", "198.51.100.9:5123"], "::1").as_deref(),
            Some("198.51.100.9")
        );
        // Garbage stops the walk at the last trusted hop; no header leaves the proxy.
        assert_eq!(
            client(&["198.51.100.9, evil"], "10.0.0.1").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(client(&[], "10.0.0.1").as_deref(), Some("10.0.0.1"));
        // Only proxies: the leftmost one.
        assert_eq!(
            client(&["10.9.9.9, 10.0.0.2"], "10.0.0.1").as_deref(),
            Some("10.9.9.9")
        );
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(encode_component("/a?b=c&d"), "/a%3Fb%3Dc%26d");
    }
}
