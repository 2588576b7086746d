//! Microsoft Entra ID tokens for Azure OpenAI: the client-credentials grant of an app
//! registration, asked for the Cognitive Services scope. The token endpoint's answer is a
//! standard OAuth2 one, read by [`crate::gcp::parse_token_response`].

use crate::gcp::percent_encode;

/// The scope Azure OpenAI accepts tokens for.
pub const COGNITIVE_SERVICES_SCOPE: &str = "https://cognitiveservices.azure.com/.default";
/// Where Entra ID issues tokens unless a sovereign cloud (or a test) names another host.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The token endpoint path of a tenant.
pub fn token_path(tenant_id: &str) -> String {
    format!("/{}/oauth2/v2.0/token", percent_encode(tenant_id, &[]))
}

/// The `application/x-www-form-urlencoded` body of a client-credentials token request.
pub fn client_credentials_body(client_id: &str, client_secret: &str, scope: &str) -> String {
    format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope={}",
        percent_encode(client_id, &[]),
        percent_encode(client_secret, &[]),
        percent_encode(scope, &[])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_form_encoded() {
        assert_eq!(
            client_credentials_body("id-1", "s3cr/t+=", COGNITIVE_SERVICES_SCOPE),
            "grant_type=client_credentials&client_id=id-1&client_secret=s3cr%2Ft%2B%3D&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
        );
        assert_eq!(token_path("my tenant"), "/my%20tenant/oauth2/v2.0/token");
    }
}
