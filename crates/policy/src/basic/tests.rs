use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue};

use super::hash::apr1_checksum;
use super::{
    AuthMode, BasicAuthentication, BasicError, BasicFailure, BasicUsers, Outcome, Rejection,
    www_authenticate,
};

/// `openssl passwd -apr1 -salt <salt> <password>` on the development machine.
const APR1_VECTORS: [(&str, &str, &str); 4] = [
    (
        "password",
        "saltsalt",
        "$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq/",
    ),
    ("", "x", "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/"),
    ("p", "abc", "$apr1$abc$EVDwK4Zx0fpte1ekLFa3D0"),
    (
        "a much longer password, over sixteen bytes, ünïcödé",
        "a.b/C9",
        "$apr1$a.b/C9$ZBlTYb/f74s.wZfgV8IlF0",
    ),
];

/// `printf %s secret | openssl dgst -sha1 -binary | base64`
const SHA_SECRET: &str = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=";

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

fn bcrypt_hash(password: &str) -> String {
    // Cost 4, the minimum, keeps the test fast; the salt is fixed for reproducibility.
    bcrypt::hash_with_salt(password, 4, [7; 16])
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY)
}

#[test]
fn apr1_matches_openssl() {
    for (password, salt, expected) in APR1_VECTORS {
        let checksum = apr1_checksum(password.as_bytes(), salt.as_bytes());
        assert_eq!(format!("$apr1${salt}${checksum}"), expected);
    }
}

#[test]
fn every_supported_scheme_verifies() {
    let bcrypt_y = bcrypt_hash("b-pass");
    let bcrypt_b = bcrypt_y.replacen("$2y$", "$2b$", 1);
    let bcrypt_a = bcrypt_y.replacen("$2y$", "$2a$", 1);
    let htpasswd = format!(
        "# team users\n\
         alice:{bcrypt_y}\r\n\
         bob:{bcrypt_b}\n\
         \n\
         carol:{bcrypt_a}\n\
         dave:$apr1$saltsalt$yAAkm4libquA.ZWLHbSBq/\n\
         erin:{SHA_SECRET}\n"
    );
    let users = BasicUsers::new(&htpasswd).unwrap();
    assert_eq!(users.len(), 5);
    for user in ["alice", "bob", "carol"] {
        assert_eq!(users.authenticate(&basic(user, "b-pass")), Ok(user));
        assert_eq!(
            users.authenticate(&basic(user, "wrong")),
            Err(BasicFailure::InvalidCredentials)
        );
    }
    assert_eq!(users.authenticate(&basic("dave", "password")), Ok("dave"));
    assert_eq!(users.authenticate(&basic("erin", "secret")), Ok("erin"));
    assert_eq!(
        users.authenticate(&basic("erin", "Secret")),
        Err(BasicFailure::InvalidCredentials)
    );
    // Unknown users fail exactly like wrong passwords.
    assert_eq!(
        users.authenticate(&basic("mallory", "b-pass")),
        Err(BasicFailure::InvalidCredentials)
    );
    // A published crypt_blowfish test vector, so bcrypt is not only checked against itself.
    let vector = "v:$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
    let users = BasicUsers::new(vector).unwrap();
    assert_eq!(users.authenticate(&basic("v", "U*U")), Ok("v"));
    // Passwords may contain ':'; only the first one separates the user.
    let colon = format!("zed:{}", bcrypt_hash("a:b"));
    let users = BasicUsers::new(&colon).unwrap();
    assert_eq!(users.authenticate(&basic("zed", "a:b")), Ok("zed"));
}

#[test]
fn cached_verification_still_rejects_wrong_passwords() {
    let users = BasicUsers::new(&format!("alice:{}", bcrypt_hash("pw"))).unwrap();
    for _ in 0..3 {
        assert_eq!(users.authenticate(&basic("alice", "pw")), Ok("alice"));
        assert_eq!(
            users.authenticate(&basic("alice", "pw2")),
            Err(BasicFailure::InvalidCredentials)
        );
    }
    let uncached = BasicUsers::new(&format!("alice:{}", bcrypt_hash("pw")))
        .unwrap()
        .with_cache_capacity(0);
    assert_eq!(uncached.authenticate(&basic("alice", "pw")), Ok("alice"));
    let tiny = BasicUsers::new(&format!("a:{}\nb:{}", bcrypt_hash("pa"), bcrypt_hash("pb")))
        .unwrap()
        .with_cache_capacity(1);
    for _ in 0..2 {
        assert_eq!(tiny.authenticate(&basic("a", "pa")), Ok("a"));
        assert_eq!(tiny.authenticate(&basic("b", "pb")), Ok("b"));
    }
}

#[test]
fn malformed_headers() {
    let users = BasicUsers::new(SHA_SECRET.replace("{SHA}", "u:{SHA}").as_str()).unwrap();
    for header in ["Basic", "Basic !!!", "Bearer abc", "", "Basic dXNlcg=="] {
        assert_eq!(
            users.authenticate(header),
            Err(BasicFailure::Malformed),
            "{header}"
        );
    }
    let lower = format!("basic {}", STANDARD.encode("u:secret"));
    assert_eq!(users.authenticate(&lower), Ok("u"));
}

#[test]
fn unusable_lines_are_reported_with_line_numbers() {
    let htpasswd = "\
        # comment\n\
        plain:secret\n\
        des:rOG0Cv7yWcg0.\n\
        md5:$1$salt$qJH7.N4xYta3aEG/dfqo/0\n\
        sha512:$6$salt$abc\n\
        :{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n\
        nocolon\n\
        badsha:{SHA}AAAA\n\
        shortbcrypt:$2y$05$abc\n\
        ok:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n\
        ok:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n";
    let Err(BasicError::InvalidLines { problems }) = BasicUsers::new(htpasswd) else {
        panic!("expected line errors");
    };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 8, 9, 11]);
    assert_eq!(
        problems[0].to_string(),
        "line 2: user 'plain': plaintext or crypt(3) DES passwords are not supported \
         (use bcrypt: htpasswd -B)"
    );
    assert_eq!(
        problems[2].to_string(),
        "line 4: user 'md5': hash scheme '$1$' is not supported (use bcrypt: htpasswd -B)"
    );
    assert_eq!(
        problems[8].to_string(),
        "line 11: user 'ok' is already defined on line 10"
    );
    let message = BasicUsers::new(htpasswd).unwrap_err().to_string();
    assert!(
        !message.contains("secret") && !message.contains("rOG0"),
        "{message}"
    );
    assert_eq!(
        BasicUsers::new("# only comments\n\n").unwrap_err(),
        BasicError::NoUsers
    );
}

#[test]
fn challenge_header() {
    assert_eq!(
        www_authenticate("Restricted"),
        "Basic realm=\"Restricted\", charset=\"UTF-8\""
    );
    assert_eq!(
        www_authenticate("a \"quoted\" \\ realm\n"),
        "Basic realm=\"a \\\"quoted\\\" \\\\ realm\", charset=\"UTF-8\""
    );
    assert_eq!(
        www_authenticate("Zürich").as_bytes(),
        "Basic realm=\"Zürich\", charset=\"UTF-8\"".as_bytes()
    );
}

#[test]
fn authentication_modes() {
    let auth = |mode| {
        let users = BasicUsers::new(&format!("u:{SHA_SECRET}")).unwrap();
        BasicAuthentication::new(mode, None, users)
    };
    let headers = |value: Option<&str>| {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    };
    let good = headers(Some(&basic("u", "secret")));
    let bad = headers(Some(&basic("u", "nope")));
    let bearer = headers(Some("Bearer token"));

    let strict = auth(AuthMode::Strict);
    assert_eq!(strict.authenticate(&good).identity(), Some(&"u"));
    assert!(matches!(
        strict.authenticate(&headers(None)),
        Outcome::Rejected(Rejection::Missing)
    ));
    assert!(matches!(
        strict.authenticate(&bearer),
        Outcome::Rejected(Rejection::Missing)
    ));
    assert!(matches!(
        strict.authenticate(&bad),
        Outcome::Rejected(Rejection::Invalid(BasicFailure::InvalidCredentials))
    ));
    assert_eq!(strict.realm(), "Restricted");
    assert_eq!(strict.challenge(), www_authenticate("Restricted"));

    let optional = auth(AuthMode::Optional);
    assert!(matches!(
        optional.authenticate(&bearer),
        Outcome::Anonymous { ignored: None }
    ));
    assert!(optional.authenticate(&bad).is_rejected());

    let permissive = auth(AuthMode::Permissive);
    assert!(matches!(
        permissive.authenticate(&bad),
        Outcome::Anonymous {
            ignored: Some(BasicFailure::InvalidCredentials)
        }
    ));
}
