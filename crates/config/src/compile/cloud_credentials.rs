//! `auth.aws` and `auth.gcp`: credentials the gateway signs or mints with, resolved once at
//! compile time so a missing key or a broken key file is a config error, not a 500 later.

use std::sync::Arc;
use std::time::Duration;

use api::ResourceKind;
use api::backend::{AwsAuth, SecretRefAuth};
use api::secret::SecretText;
use llm::aws::sigv4::Credentials;
use llm::gcp::ServiceAccount;

use crate::compile::Ctx;
use crate::compile::backend::DEFAULT_CONNECT_TIMEOUT;
use crate::compile::secrets::{ResolvedSecrets, SecretValues};
use crate::ir::backend::{
    AwsCredential, AzureCredential, BackendCredential, Endpoint, GcpCredential, StaticBackend,
    UpstreamTls,
};
use crate::store::{Entry, ObjectKey};

/// How long a token request may take before the LLM call fails with a clear error.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The Secret a cloud credential names, or an error saying it does not exist.
fn secret_values<'s, T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    name: &str,
    secrets: &'s ResolvedSecrets,
    hint: &str,
) -> Option<&'s SecretValues> {
    let key = ObjectKey::new(ResourceKind::Secret, &entry.key.namespace, name);
    let values = secrets.get(&key);
    if values.is_none() {
        ctx.error(
            entry,
            &format!("{path}.secretRef.name"),
            format!("Secret {}/{} does not exist", key.namespace, key.name),
            hint,
        );
    }
    values
}

/// The Secret `auth.secretRef` names (required), or errors saying what it should hold.
fn named_secret<'a, T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    auth: &'a SecretRefAuth,
    secrets: &'a ResolvedSecrets,
    what: &str,
    hint: &str,
) -> Option<(&'a api::meta::LocalSecretRef, &'a SecretValues)> {
    let Some(secret_ref) = &auth.secret_ref else {
        ctx.error(entry, &format!("{path}.secretRef"), what, hint);
        return None;
    };
    let values = secret_values(ctx, entry, path, &secret_ref.name, secrets, hint)?;
    Some((secret_ref, values))
}

/// AWS keys from the named Secret (`accessKeyId`, `secretAccessKey`, optional
/// `sessionToken`), or from the standard AWS environment variables when none is named.
pub(crate) fn aws<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    auth: &AwsAuth,
    secrets: &ResolvedSecrets,
) -> Option<BackendCredential> {
    let path = format!("{path}.aws");
    let keys = match &auth.secret_ref {
        Some(secret_ref) => {
            let hint = "kubectl create secret generic NAME --from-literal=accessKeyId=... --from-literal=secretAccessKey=...";
            let values = secret_values(ctx, entry, &path, &secret_ref.name, secrets, hint)?;
            let get = |k: &str| values.get(k).map(|v| v.expose().to_string());
            match (get("accessKeyId"), get("secretAccessKey")) {
                (Some(access_key_id), Some(secret_access_key)) => Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: get("sessionToken"),
                },
                _ => {
                    ctx.error(
                        entry,
                        &format!("{path}.secretRef.name"),
                        format!(
                            "Secret {} needs the keys accessKeyId and secretAccessKey",
                            secret_ref.name
                        ),
                        "sessionToken is optional (temporary credentials)",
                    );
                    return None;
                }
            }
        }
        None => {
            let env = ctx.env.clone();
            match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(access_key_id), Some(secret_access_key)) => Credentials {
                    access_key_id,
                    secret_access_key,
                    session_token: env("AWS_SESSION_TOKEN"),
                },
                _ => {
                    ctx.error(
                        entry,
                        &path,
                        "no AWS keys: no secretRef is set and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not in the environment",
                        "set both variables for the gateway process, or name a Secret with accessKeyId and secretAccessKey",
                    );
                    return None;
                }
            }
        }
    };
    Some(BackendCredential::Aws(Arc::new(AwsCredential {
        keys,
        region: auth.region.clone(),
    })))
}

/// A service account from the named Secret (its one key holds the JSON key file), with its
/// token endpoint made a connection target.
pub(crate) fn gcp<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    auth: &SecretRefAuth,
    secrets: &ResolvedSecrets,
) -> Option<BackendCredential> {
    let path = format!("{path}.gcp");
    let hint = "kubectl create secret generic NAME --from-file=key.json=service-account.json";
    let what = "gcp credentials need a Secret holding a service-account key file";
    let (secret_ref, values) = named_secret(ctx, entry, &path, auth, secrets, what, hint)?;
    let json = match values.len() {
        1 => values.values().next().map(SecretText::expose),
        _ => None,
    };
    let Some(json) = json else {
        ctx.error(
            entry,
            &format!("{path}.secretRef.name"),
            format!(
                "Secret {} must hold exactly one key (the service-account JSON); it has {}",
                secret_ref.name,
                values.len()
            ),
            hint,
        );
        return None;
    };
    let account = match ServiceAccount::from_json(json) {
        Ok(account) => account,
        Err(e) => {
            ctx.error(
                entry,
                &format!("{path}.secretRef.name"),
                format!("Secret {}: {e}", secret_ref.name),
                hint,
            );
            return None;
        }
    };
    let Some((token_endpoint, token_path)) = url_target(&account.token_uri) else {
        ctx.error(
            entry,
            &format!("{path}.secretRef.name"),
            format!(
                "Secret {}: token_uri '{}' is not an http(s) URL",
                secret_ref.name, account.token_uri
            ),
            "use the key file exactly as Google issued it",
        );
        return None;
    };
    Some(BackendCredential::Gcp(Arc::new(GcpCredential {
        account,
        token_endpoint,
        token_path,
    })))
}

/// An Entra ID app registration from the named Secret (`tenantId`, `clientId`,
/// `clientSecret`, optional `authorityHost` for sovereign clouds).
pub(crate) fn azure<T>(
    ctx: &mut Ctx<'_>,
    entry: &Entry<T>,
    path: &str,
    auth: &SecretRefAuth,
    secrets: &ResolvedSecrets,
) -> Option<BackendCredential> {
    let path = format!("{path}.azure");
    let hint = "kubectl create secret generic NAME --from-literal=tenantId=... --from-literal=clientId=... --from-literal=clientSecret=...";
    let what = "azure credentials need a Secret with the app registration's tenantId, clientId and clientSecret";
    let (secret_ref, values) = named_secret(ctx, entry, &path, auth, secrets, what, hint)?;
    let get = |k: &str| values.get(k).map(|v| v.expose().trim().to_string());
    let (Some(tenant_id), Some(client_id), Some(client_secret)) =
        (get("tenantId"), get("clientId"), values.get("clientSecret"))
    else {
        ctx.error(
            entry,
            &format!("{path}.secretRef.name"),
            format!(
                "Secret {} needs the keys tenantId, clientId and clientSecret",
                secret_ref.name
            ),
            hint,
        );
        return None;
    };
    let authority =
        get("authorityHost").unwrap_or_else(|| llm::azure::DEFAULT_AUTHORITY.to_string());
    let url = format!(
        "{}{}",
        authority.trim_end_matches('/'),
        llm::azure::token_path(&tenant_id)
    );
    let Some((token_endpoint, token_path)) = url_target(&url) else {
        ctx.error(
            entry,
            &format!("{path}.secretRef.name"),
            format!(
                "Secret {}: authorityHost '{authority}' is not an http(s) URL",
                secret_ref.name
            ),
            "leave it out for the public cloud, or write e.g. https://login.microsoftonline.us",
        );
        return None;
    };
    Some(BackendCredential::Azure(Arc::new(AzureCredential {
        tenant_id,
        client_id,
        client_secret: client_secret.clone(),
        token_endpoint,
        token_path,
    })))
}

/// A URL as a connection target (system roots for https) and its path.
pub(crate) fn url_target(uri: &str) -> Option<(StaticBackend, String)> {
    let uri: http::Uri = uri.parse().ok()?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return None,
    };
    let host = uri.host()?.trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let endpoint = Endpoint::new(&host, port, tls).ok()?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let backend = StaticBackend {
        host,
        port,
        tls: tls.then(|| UpstreamTls {
            ca_certificates: Vec::new(),
            insecure_skip_verify: false,
            sni: None,
            alpn: Vec::new(),
        }),
        http2: false,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        request_timeout: Some(TOKEN_TIMEOUT),
        credential: None,
        endpoint,
    };
    Some((backend, path))
}
