//! A real third-party SAML IdP on loopback: Debian's SimpleSAMLphp (1.19)
//! under `php -S`, with its `exampleauth:UserPass` login form. It trusts our
//! SP by reading the SP metadata document the gateway publishes (through
//! SimpleSAMLphp's own metadata parser), so what it does with our keys,
//! ACS and SLO endpoints is what a real IdP would do with them.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;

const WWW: &str = "/usr/share/simplesamlphp/www";
const KEY_PEM: &str = include_str!("../../fixtures/certs/idp-key.pem");
const CERT_PEM: &str = include_str!("../../fixtures/certs/idp-cert.pem");

/// One person SimpleSAMLphp's login form accepts.
pub struct Account<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub email: &'a str,
    pub groups: &'a [&'a str],
}

pub struct SimpleSaml {
    pub base: String,
    dir: tempfile::TempDir,
    php: Child,
}

fn php_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

impl SimpleSaml {
    /// Starts SimpleSAMLphp with these accounts; `idp_options` are PHP
    /// array entries added to the hosted IdP's metadata.
    pub async fn start(accounts: &[Account<'_>], idp_options: &[(&str, &str)]) -> SimpleSaml {
        assert!(
            Path::new(WWW).exists(),
            "{WWW} is missing: install the Debian packages simplesamlphp php-cli php-xml php-mbstring (scripts/test.sh does)"
        );
        let dir = tempfile::tempdir().unwrap();
        for sub in ["config", "metadata", "cert", "log", "data", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(dir.path().join("cert/idp-key.pem"), KEY_PEM).unwrap();
        std::fs::write(dir.path().join("cert/idp-cert.pem"), CERT_PEM).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let root = dir.path().display().to_string();
        let config = format!(
            r#"<?php
$config = [
    'baseurlpath' => '{base}/',
    'certdir' => '{root}/cert/',
    'loggingdir' => '{root}/log/',
    'datadir' => '{root}/data/',
    'tempdir' => '{root}/tmp',
    'technicalcontact_name' => 'Tests',
    'technicalcontact_email' => 'tests@example.org',
    'timezone' => 'UTC',
    'secretsalt' => 'sso-gateway-tests-salt',
    'auth.adminpassword' => 'not-used-by-tests',
    'admin.checkforupdates' => false,
    // ReturnTo URLs on loopback (any port: each test's gateway has its own).
    'trusted.url.regex' => true,
    'trusted.url.domains' => ['127\.0\.0\.1(:[0-9]+)?'],
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'logging.level' => SimpleSAML\Logger::DEBUG,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'store.type' => 'phpsession',
    // Plain http on loopback: a Secure or SameSite=None cookie would not come back.
    'session.cookie.secure' => false,
    'session.cookie.samesite' => 'Lax',
    'language.cookie.secure' => false,
    'language.cookie.samesite' => 'Lax',
    'metadata.sources' => [['type' => 'flatfile', 'directory' => '{root}/metadata']],
    'production' => false,
    'showerrors' => true,
];
"#
        );
        std::fs::write(dir.path().join("config/config.php"), config).unwrap();
        let options: String = idp_options
            .iter()
            .map(|(k, v)| format!("    {} => {v},\n", php_string(k)))
            .collect();
        let hosted = format!(
            r#"<?php
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp-key.pem',
    'certificate' => 'idp-cert.pem',
    'auth' => 'users',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    'simplesaml.nameidattribute' => 'email',
{options}];
"#
        );
        std::fs::write(dir.path().join("metadata/saml20-idp-hosted.php"), hosted).unwrap();
        // Every `sp-*.xml` beside it is an SP metadata document we fetched
        // from the gateway; `sp-*.xml.json` holds extra options for it.
        std::fs::write(
            dir.path().join("metadata/saml20-sp-remote.php"),
            r#"<?php
foreach (glob(__DIR__ . '/sp-*.xml') as $file) {
    $parsed = \SimpleSAML\Metadata\SAMLParser::parseDescriptorsString(file_get_contents($file));
    foreach ($parsed as $entityId => $entity) {
        $extra = is_file($file . '.json') ? json_decode(file_get_contents($file . '.json'), true) : [];
        $metadata[$entityId] = array_merge($entity->getMetadata20SP(), $extra);
    }
}
"#,
        )
        .unwrap();
        let idp = SimpleSaml {
            base,
            php: Self::spawn_php(dir.path(), port),
            dir,
        };
        idp.set_accounts(accounts);
        idp.wait_until_up().await;
        idp
    }

    fn spawn_php(dir: &Path, port: u16) -> Child {
        Command::new("php")
            .process_group(0)
            // No opcache: a test rewrites authsources.php between sign-ins.
            .args([
                "-d",
                "opcache.enable=0",
                "-S",
                &format!("127.0.0.1:{port}"),
                "-t",
                WWW,
            ])
            .env("SIMPLESAMLPHP_CONFIG_DIR", dir.join("config"))
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("log/php-server.log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
            .spawn()
            .expect("php -S starts (Debian package php-cli)")
    }

    async fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = reqwest::get(self.metadata_url()).await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "SimpleSAMLphp did not answer; its log: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Replaces who can sign in (SimpleSAMLphp reads the file per request,
    /// so a test can change a person's groups between two sign-ins).
    pub fn set_accounts(&self, accounts: &[Account<'_>]) {
        let mut users = String::new();
        for a in accounts {
            let groups: Vec<String> = a.groups.iter().map(|g| php_string(g)).collect();
            let (given, family) = a.email.split_once('@').unwrap_or((a.email, ""));
            users.push_str(&format!(
                "        {} => ['email' => [{}], 'givenName' => [{}], 'sn' => [{}], 'groups' => [{}]],\n",
                php_string(&format!("{}:{}", a.username, a.password)),
                php_string(a.email),
                php_string(given),
                php_string(family),
                groups.join(", "),
            ));
        }
        let sources = format!(
            "<?php\n$config = [\n    'admin' => ['core:AdminPassword'],\n    'users' => [\n        'exampleauth:UserPass',\n{users}    ],\n];\n"
        );
        std::fs::write(self.dir.path().join("config/authsources.php"), sources).unwrap();
    }

    /// Trusts an SP by its metadata document (as the gateway serves it);
    /// `options` go into SimpleSAMLphp's SP-remote entry on top of it
    /// (e.g. `validate.authnrequest`, `assertion.encryption`).
    pub fn trust_sp(&self, name: &str, metadata_xml: &str, options: Value) {
        let file: PathBuf = self.dir.path().join(format!("metadata/sp-{name}.xml"));
        std::fs::write(&file, metadata_xml).unwrap();
        std::fs::write(
            file.with_extension("xml.json"),
            serde_json::to_string(&options).unwrap(),
        )
        .unwrap();
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/saml2/idp/metadata.php", self.base)
    }

    pub fn entity_id(&self) -> String {
        self.metadata_url()
    }

    /// IdP-initiated sign-in into the SP with this entity ID.
    pub fn idp_initiated_url(&self, sp_entity_id: &str) -> String {
        let mut url =
            reqwest::Url::parse(&format!("{}/saml2/idp/SSOService.php", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("spentityid", sp_entity_id);
        url.to_string()
    }

    /// IdP-initiated logout: ends the IdP session and every SP session it
    /// knows of (SimpleSAMLphp sends each SP a LogoutRequest).
    pub fn logout_url(&self, return_to: &str) -> String {
        let mut url =
            reqwest::Url::parse(&format!("{}/saml2/idp/SingleLogoutService.php", self.base))
                .unwrap();
        url.query_pairs_mut().append_pair("ReturnTo", return_to);
        url.to_string()
    }

    /// SimpleSAMLphp's own log and the PHP server's, for failure messages.
    pub fn log(&self) -> String {
        let read = |p: &str| std::fs::read_to_string(self.dir.path().join(p)).unwrap_or_default();
        format!(
            "{}\n{}",
            read("log/simplesamlphp.log"),
            read("log/php-server.log")
        )
    }
}

impl Drop for SimpleSaml {
    fn drop(&mut self) {
        let group = format!("-{}", self.php.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.php.wait();
    }
}
