//! `X:\Windows\System32\winpeshl.ini`: what Windows PE's shell (`winpeshl.exe`) starts instead
//! of `cmd /k startnet.cmd`. Capture and discover images (Windows Deployment Services) are
//! boot images whose `[LaunchApps]` starts the capture wizard or Setup in discover mode.
//!
//! An image may have a `winpeshl.ini` already (MDT's starts its wizard): it is merged, as the
//! WDS documentation asks, not replaced: its sections and entries stay, the tool is added to
//! `[LaunchApps]` (replacing an entry for the same program), and `wpeinit.exe` is put first
//! when the file did not start it, because with `[LaunchApps]` `startnet.cmd` no longer runs,
//! and `wpeinit` is what installs the image's drivers, starts the network and runs the
//! prestart command.

/// The program and arguments a capture or discover image starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchApp {
    pub program: String,
    pub arguments: Option<String>,
}

impl LaunchApp {
    fn line(&self) -> String {
        match &self.arguments {
            Some(args) => format!("{}, \"{}\"", self.program, args),
            None => self.program.clone(),
        }
    }
}

pub const WPEINIT: &str = r"%SYSTEMROOT%\System32\wpeinit.exe";

/// The program an entry of `[LaunchApps]` starts (before its comma), for comparisons.
fn program_of(line: &str) -> String {
    line.split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase()
}

/// The file name of a program path, lower-cased (`setup.exe`).
fn file_name(program: &str) -> String {
    program
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(program)
        .to_ascii_lowercase()
}

/// `existing` (or nothing) with `app` in its `[LaunchApps]`, and `wpeinit` before it.
pub fn merge(existing: Option<&str>, app: &LaunchApp) -> String {
    let text = existing.unwrap_or_default().replace("\r\n", "\n");
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut preamble: Vec<String> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            sections.push((trimmed.to_owned(), Vec::new()));
        } else if let Some((_, lines)) = sections.last_mut() {
            lines.push(line.to_owned());
        } else {
            preamble.push(line.to_owned());
        }
    }
    let index = match sections
        .iter()
        .position(|(name, _)| name.eq_ignore_ascii_case("[LaunchApps]"))
    {
        Some(i) => i,
        None => {
            sections.push(("[LaunchApps]".to_owned(), Vec::new()));
            sections.len() - 1
        }
    };
    let entries = &mut sections[index].1;
    let ours = file_name(&app.program);
    // Trailing blank lines are re-added once at the end of the section.
    while entries.last().is_some_and(|l| l.trim().is_empty()) {
        entries.pop();
    }
    entries.retain(|line| {
        let program = program_of(line);
        line.trim().is_empty() || line.trim_start().starts_with(';') || file_name(&program) != ours
    });
    let starts_wpeinit = entries
        .iter()
        .any(|line| file_name(&program_of(line)) == "wpeinit.exe");
    if !starts_wpeinit {
        entries.insert(0, WPEINIT.to_owned());
    }
    entries.push(app.line());
    let mut out = String::new();
    for line in &preamble {
        out.push_str(line);
        out.push_str("\r\n");
    }
    for (i, (name, lines)) in sections.iter().enumerate() {
        if i > 0 && !out.ends_with("\r\n\r\n") {
            out.push_str("\r\n");
        }
        out.push_str(name);
        out.push_str("\r\n");
        for line in lines {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// The entries of `[LaunchApps]`, in order (what the file makes Windows PE start).
pub fn launch_apps(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut apps = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            inside = trimmed.eq_ignore_ascii_case("[LaunchApps]");
        } else if inside && !trimmed.is_empty() && !trimmed.starts_with(';') {
            apps.push(trimmed.to_owned());
        }
    }
    apps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture() -> LaunchApp {
        LaunchApp {
            program: r"%SYSTEMROOT%\system32\wdscapture.exe".into(),
            arguments: None,
        }
    }

    #[test]
    fn a_new_file_starts_wpeinit_then_the_tool() {
        let text = merge(None, &capture());
        assert_eq!(
            text,
            "[LaunchApps]\r\n%SYSTEMROOT%\\System32\\wpeinit.exe\r\n%SYSTEMROOT%\\system32\\wdscapture.exe\r\n"
        );
        assert_eq!(launch_apps(&text).len(), 2);
    }

    #[test]
    fn discover_arguments_are_quoted_as_one() {
        let app = LaunchApp {
            program: r"%SYSTEMDRIVE%\sources\setup.exe".into(),
            arguments: Some("/wds /wdsdiscover /wdsserver:deploy01".into()),
        };
        assert_eq!(
            launch_apps(&merge(None, &app))[1],
            r#"%SYSTEMDRIVE%\sources\setup.exe, "/wds /wdsdiscover /wdsserver:deploy01""#
        );
    }

    #[test]
    fn an_existing_file_keeps_its_sections_and_entries() {
        let existing = "; MDT\r\n[LaunchApp]\r\nAppPath = %SYSTEMDRIVE%\\Deploy\\Bootstrap.exe\r\n\r\n[LaunchApps]\r\n%SYSTEMROOT%\\System32\\wpeinit.exe, /unattend=X:\\Unattend.xml\r\n%SYSTEMDRIVE%\\Deploy\\Scripts\\bddrun.exe,/bootstrap\r\n";
        let text = merge(Some(existing), &capture());
        assert!(
            text.starts_with("; MDT\r\n[LaunchApp]\r\nAppPath = "),
            "{text}"
        );
        assert_eq!(
            launch_apps(&text),
            vec![
                r"%SYSTEMROOT%\System32\wpeinit.exe, /unattend=X:\Unattend.xml",
                r"%SYSTEMDRIVE%\Deploy\Scripts\bddrun.exe,/bootstrap",
                r"%SYSTEMROOT%\system32\wdscapture.exe",
            ]
        );
    }

    #[test]
    fn merging_twice_replaces_the_tools_entry() {
        let once = merge(None, &capture());
        let discover = LaunchApp {
            program: r"%SYSTEMROOT%\System32\wdscapture.exe".into(),
            arguments: Some("/x".into()),
        };
        let twice = merge(Some(&once), &discover);
        assert_eq!(
            launch_apps(&twice),
            vec![
                WPEINIT.to_owned(),
                r#"%SYSTEMROOT%\System32\wdscapture.exe, "/x""#.to_owned()
            ]
        );
        assert_eq!(merge(Some(&once), &capture()), once);
    }
}
