//! Reading configuration files and splitting them into YAML documents with their lines.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ConfigError, ConfigErrors};

/// One YAML document, with the file and line it starts at so errors can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub file: Arc<str>,
    /// 1-based line of the document's first line in `file`.
    pub start_line: usize,
    pub text: String,
}

/// Loads a file, or every `*.yaml` / `*.yml` file under a directory (recursively, in name
/// order so that loads are reproducible; hidden entries are skipped).
pub fn load_path(path: &Path) -> Result<Vec<Document>, ConfigErrors> {
    let files = if path.is_dir() {
        let mut files = Vec::new();
        collect_yaml_files(path, &mut files).map_err(|e| io_error(path, &e))?;
        if files.is_empty() {
            return Err(ConfigErrors::single(
                ConfigError::new(format!(
                    "no *.yaml or *.yml files in directory {}",
                    path.display()
                ))
                .hint("point -f at a YAML file or a directory that holds some"),
            ));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut documents = Vec::new();
    let mut errors = ConfigErrors::default();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => documents.extend(load_str(&file.display().to_string(), &text)),
            Err(e) => errors.push(io_error(&file, &e).0.remove(0)),
        }
    }
    if errors.is_empty() {
        Ok(documents)
    } else {
        Err(errors)
    }
}

/// The files `load_path` would read, for the reloader to watch.
pub fn watched_files(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut files = Vec::new();
        // A directory that cannot be read simply has nothing to watch until it can.
        let _ = collect_yaml_files(path, &mut files);
        files
    } else {
        vec![path.to_path_buf()]
    }
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        // Hidden entries are skipped: a Kubernetes ConfigMap or Secret volume keeps each
        // file's real copy under `..data` / `..<timestamp>`, beside the visible link to it.
        let hidden = entry
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if entry.is_dir() {
            collect_yaml_files(&entry, out)?;
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(entry);
        }
    }
    Ok(())
}

fn io_error(path: &Path, e: &std::io::Error) -> ConfigErrors {
    ConfigErrors::single(
        ConfigError::new(format!("cannot read {}: {e}", path.display()))
            .hint("check that the path exists and is readable"),
    )
}

/// Splits multi-document YAML text on `---` lines, dropping documents that hold only
/// comments or whitespace.
pub fn load_str(file: &str, text: &str) -> Vec<Document> {
    let file: Arc<str> = Arc::from(file);
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    for (index, line) in text.lines().enumerate() {
        if is_document_separator(line) {
            push_document(&mut documents, &file, start_line, &mut current);
            start_line = index + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    push_document(&mut documents, &file, start_line, &mut current);
    documents
}

fn is_document_separator(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '#']))
}

fn push_document(out: &mut Vec<Document>, file: &Arc<str>, start_line: usize, text: &mut String) {
    let has_content = text.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    });
    let text = std::mem::take(text);
    if has_content {
        out.push(Document {
            file: file.clone(),
            start_line,
            text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_documents_and_keeps_their_lines() {
        let text =
            "# header\nkind: A\n---\n# only a comment\n---\nkind: B\nx: 1\n--- # c\nkind: C\n";
        let docs = load_str("f.yaml", text);
        let starts: Vec<usize> = docs.iter().map(|d| d.start_line).collect();
        assert_eq!(starts, vec![1, 6, 9]);
        assert_eq!(docs[1].text, "kind: B\nx: 1\n");
        assert_eq!(&*docs[2].file, "f.yaml");
    }

    #[test]
    fn directory_loads_yaml_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.path().join("a.yml"), "kind: A\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kind: X\n").unwrap();
        let docs = load_path(dir.path()).unwrap();
        assert_eq!(docs.len(), 2);
        assert!(docs[0].file.ends_with("a.yml"));
    }

    /// The layout kubelet gives a mounted ConfigMap: the real files under a timestamped
    /// directory, `..data` linking to it, and visible links through `..data`.
    #[cfg(unix)]
    #[test]
    fn a_configmap_volume_loads_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let stamped = dir.path().join("..2026_11_28_01_02_03.123");
        std::fs::create_dir(&stamped).unwrap();
        std::fs::write(stamped.join("gateway.yaml"), "kind: A\n").unwrap();
        std::os::unix::fs::symlink("..2026_11_28_01_02_03.123", dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/gateway.yaml", dir.path().join("gateway.yaml")).unwrap();
        let docs = load_path(dir.path()).unwrap();
        assert_eq!(docs.len(), 1);
        assert!(docs[0].file.ends_with("/gateway.yaml"));
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = load_path(Path::new("/nonexistent/agw.yaml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read /nonexistent/agw.yaml"),
            "{err}"
        );
    }
}
