//! `X:\Unattend.xml`: the answer file `wpeinit` processes when Windows PE starts (`startnet.cmd`
//! runs `wpeinit`; so does a `winpeshl.ini` that Wimdeck writes). Two of its windowsPE-pass
//! settings carry a boot image's recipe, so no script of the image is rewritten:
//!
//! - `Microsoft-Windows-PnpCustomizationsWinPE/DriverPaths`: folders whose drivers Plug and
//!   Play installs, before `wpeinit` starts the network (so an added network driver is there
//!   when it is needed);
//! - `Microsoft-Windows-Setup/RunSynchronous`: commands `wpeinit` runs one after the other,
//!   waiting for each, once the network is up and before it returns (so before anything the
//!   image starts after it): the language settings, the testing command prompt and the
//!   prestart command.
//!
//! A boot image may have an answer file already (MDT's starts its wizard from one): it is
//! kept with all its settings. Wimdeck's driver folders follow the image's own; Wimdeck's
//! commands come first and the image's own keep their order after them. A build always
//! starts from the base's answer file, never from a previous build's.

use super::xml::{Document, Element, Node};

const PNP_COMPONENT: &str = "Microsoft-Windows-PnpCustomizationsWinPE";
const SETUP_COMPONENT: &str = "Microsoft-Windows-Setup";
const WCM: &str = "http://schemas.microsoft.com/WMIConfig/2002/State";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// How Windows PE sees the folder driver folders go to (`Wimdeck\Drivers` in the image's
/// `Windows` folder).
pub const DRIVERS_DIR_IN_PE: &str = r"X:\Windows\Wimdeck\Drivers";

/// A command `wpeinit` runs and waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub path: String,
    pub description: String,
}

/// What a recipe adds to the answer file.
#[derive(Debug, Clone, Default)]
pub struct Additions {
    /// `x86`, `amd64` or `arm64`: the components' processor architecture.
    pub architecture: String,
    pub driver_paths: Vec<String>,
    pub commands: Vec<Command>,
}

impl Additions {
    fn is_empty(&self) -> bool {
        self.driver_paths.is_empty() && self.commands.is_empty()
    }
}

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

const SKELETON: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Written by Wimdeck: what wpeinit does when Windows PE starts. -->\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n</unattend>\n";

/// The answer file for a build: `existing` (the base's, if it has one) with `additions`.
/// `None` when there is neither: the image needs no answer file.
pub fn compose(existing: Option<&str>, additions: &Additions) -> Result<Option<String>, String> {
    if existing.is_none() && additions.is_empty() {
        return Ok(None);
    }
    let mut doc = Document::parse(existing.unwrap_or(SKELETON))?;
    // Whatever encoding the image's file was in, it is written back as UTF-8.
    for node in &mut doc.prolog {
        if let Node::Other(raw) = node
            && raw.starts_with("<?xml ")
        {
            *raw = DECLARATION.to_owned();
        }
    }
    if doc.root.local_name() != "unattend" {
        return Err(format!(
            "its root element is <{}>, not <unattend>",
            doc.root.local_name()
        ));
    }
    if additions.is_empty() {
        return Ok(Some(doc.render()));
    }
    let settings = doc
        .root
        .find_or_push(
            |e| e.local_name() == "settings" && e.attribute("pass").as_deref() == Some("windowsPE"),
            || Element::new("settings", &[("pass", "windowsPE")]),
            "",
        )
        .ok_or("its windowsPE settings cannot be made")?;
    if !additions.driver_paths.is_empty() {
        add_driver_paths(settings, &additions.architecture, &additions.driver_paths)?;
    }
    if !additions.commands.is_empty() {
        add_commands(settings, &additions.architecture, &additions.commands)?;
    }
    Ok(Some(doc.render()))
}

/// The component `name` for `architecture` of the windowsPE settings, made when missing (an
/// answer file may carry the same component for several architectures).
fn component<'a>(
    settings: &'a mut Element,
    name: &str,
    architecture: &str,
) -> Result<&'a mut Element, String> {
    settings
        .find_or_push(
            |e| {
                e.local_name() == "component"
                    && e.attribute("name").as_deref() == Some(name)
                    && e.attribute("processorArchitecture")
                        .is_none_or(|a| a.eq_ignore_ascii_case(architecture))
            },
            || {
                Element::new(
                    "component",
                    &[
                        ("name", name),
                        ("processorArchitecture", architecture),
                        ("publicKeyToken", "31bf3856ad364e35"),
                        ("language", "neutral"),
                        ("versionScope", "nonSxS"),
                        ("xmlns:wcm", WCM),
                        ("xmlns:xsi", XSI),
                    ],
                )
            },
            "    ",
        )
        .ok_or_else(|| format!("the component {name} cannot be made"))
}

/// The child `name`, made when missing.
fn child_or_new<'a>(
    parent: &'a mut Element,
    name: &str,
    indent: &str,
) -> Result<&'a mut Element, String> {
    parent
        .find_or_push(
            |e| e.local_name() == name,
            || Element::new(name, &[]),
            indent,
        )
        .ok_or_else(|| format!("<{name}> cannot be made"))
}

fn add_driver_paths(
    settings: &mut Element,
    architecture: &str,
    paths: &[String],
) -> Result<(), String> {
    let pnp = component(settings, PNP_COMPONENT, architecture)?;
    let list = child_or_new(pnp, "DriverPaths", "      ")?;
    let mut key = list
        .elements()
        .filter_map(|e| e.attribute("keyValue")?.parse::<u32>().ok())
        .max()
        .unwrap_or(0);
    for path in paths {
        key = key
            .checked_add(1)
            .ok_or("a PathAndCredentials has a keyValue too large to follow")?;
        let mut entry = Element::new(
            "PathAndCredentials",
            &[
                ("wcm:action", "add"),
                ("wcm:keyValue", &key.to_string()),
                ("xmlns:wcm", WCM),
            ],
        );
        entry.push(Element::with_text("Path", path), "          ");
        list.push(entry, "        ");
    }
    Ok(())
}

fn add_commands(
    settings: &mut Element,
    architecture: &str,
    commands: &[Command],
) -> Result<(), String> {
    let setup = component(settings, SETUP_COMPONENT, architecture)?;
    let list = child_or_new(setup, "RunSynchronous", "      ")?;
    // The image's own commands run after Wimdeck's, in their own order.
    let shift = u32::try_from(commands.len()).unwrap_or(u32::MAX);
    for existing in list
        .elements_mut()
        .filter(|e| e.local_name() == "RunSynchronousCommand")
    {
        if let Some(order) = existing.child_mut("Order") {
            let number = order
                .text()
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or("a RunSynchronousCommand has an Order that is not a number")?;
            let moved = number
                .checked_add(shift)
                .ok_or("a RunSynchronousCommand has an Order too large to follow")?;
            order.set_text(&moved.to_string());
        }
    }
    let mut ours = Element::new("RunSynchronous", &[]);
    for (i, command) in commands.iter().enumerate() {
        let mut entry = Element::new(
            "RunSynchronousCommand",
            &[("wcm:action", "add"), ("xmlns:wcm", WCM)],
        );
        entry.push(
            Element::with_text("Order", &(i + 1).to_string()),
            "          ",
        );
        entry.push(Element::with_text("Path", &command.path), "          ");
        entry.push(
            Element::with_text("Description", &command.description),
            "          ",
        );
        ours.push(entry, "        ");
    }
    // Wimdeck's entries go first, then the image's own.
    let theirs = std::mem::take(&mut list.children);
    list.children = ours.children;
    if theirs.iter().any(|n| matches!(n, Node::Element(_))) {
        // Their leading whitespace takes the place of our closing one.
        list.children.pop();
        list.children.extend(theirs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MDT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="windowsPE">
    <component name="Microsoft-Windows-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <Display><ColorDepth>32</ColorDepth></Display>
      <RunSynchronous>
        <RunSynchronousCommand><Order>1</Order><Path>wscript.exe X:\Deploy\Scripts\LiteTouch.wsf</Path></RunSynchronousCommand>
      </RunSynchronous>
    </component>
    <component name="Microsoft-Windows-PnpCustomizationsWinPE" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <DriverPaths>
        <PathAndCredentials wcm:action="add" wcm:keyValue="1" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State"><Path>X:\Vendor &amp; Co\Drivers</Path></PathAndCredentials>
      </DriverPaths>
    </component>
  </settings>
</unattend>
"#;

    fn additions(paths: &[&str], commands: &[&str]) -> Additions {
        Additions {
            architecture: "amd64".into(),
            driver_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
            commands: commands
                .iter()
                .map(|c| Command {
                    path: (*c).to_owned(),
                    description: "test".into(),
                })
                .collect(),
        }
    }

    /// The texts of every element named `name`, in document order.
    fn texts(xml: &str, name: &str) -> Vec<String> {
        fn walk(e: &Element, name: &str, out: &mut Vec<String>) {
            if e.local_name() == name {
                out.extend(e.text());
            }
            for child in e.elements() {
                walk(child, name, out);
            }
        }
        let doc = Document::parse(xml).expect("well-formed");
        let mut out = Vec::new();
        walk(&doc.root, name, &mut out);
        out
    }

    #[test]
    fn nothing_to_add_and_no_answer_file_means_none() {
        assert_eq!(compose(None, &additions(&[], &[])), Ok(None));
        // An image's own answer file stays as it is.
        assert_eq!(
            compose(Some(MDT), &additions(&[], &[])),
            Ok(Some(MDT.to_owned()))
        );
    }

    #[test]
    fn a_new_answer_file_lists_folders_and_commands_in_order() {
        let xml = compose(
            None,
            &additions(&[r"X:\D\a", r"X:\D\b"], &["cmd /c one.cmd", "two.exe"]),
        )
        .expect("compose")
        .expect("a file");
        assert_eq!(
            texts(&xml, "Path"),
            vec![r"X:\D\a", r"X:\D\b", "cmd /c one.cmd", "two.exe"]
        );
        assert_eq!(texts(&xml, "Order"), vec!["1", "2"]);
        assert!(xml.contains(
            r#"<component name="Microsoft-Windows-Setup" processorArchitecture="amd64""#
        ));
        assert!(xml.contains(r#"wcm:keyValue="2""#));
    }

    #[test]
    fn an_existing_answer_file_keeps_its_settings_and_runs_its_commands_after_ours() {
        let xml = compose(
            Some(MDT),
            &additions(&[r"X:\Windows\Wimdeck\Drivers\e1d"], &["cmd /c pre.cmd"]),
        )
        .expect("compose")
        .expect("a file");
        assert!(xml.contains("<ColorDepth>32</ColorDepth>"));
        assert_eq!(xml.matches(PNP_COMPONENT).count(), 1);
        assert_eq!(xml.matches(SETUP_COMPONENT).count(), 1);
        assert_eq!(
            texts(&xml, "Path"),
            vec![
                "cmd /c pre.cmd",
                r"wscript.exe X:\Deploy\Scripts\LiteTouch.wsf",
                r"X:\Vendor & Co\Drivers",
                r"X:\Windows\Wimdeck\Drivers\e1d",
            ]
        );
        assert_eq!(texts(&xml, "Order"), vec!["1", "2"]);
        assert!(xml.contains(r#"wcm:keyValue="2""#), "{xml}");
    }

    #[test]
    fn an_answer_file_without_a_windows_pe_pass_gets_one() {
        let xml = r#"<?xml version="1.0"?><unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem"/></unattend>"#;
        let merged = compose(Some(xml), &additions(&["X:\\A"], &[]))
            .expect("merge")
            .expect("file");
        assert!(merged.contains(r#"<settings pass="oobeSystem"/>"#));
        assert!(merged.contains(r#"<settings pass="windowsPE">"#));
    }

    #[test]
    fn a_utf16_answer_file_is_written_back_as_utf8_and_other_architectures_are_left_alone() {
        let utf16 = MDT.replace("encoding=\"utf-8\"", "encoding=\"utf-16\"");
        let x86 = utf16.replace(
            "processorArchitecture=\"amd64\"",
            "processorArchitecture=\"x86\"",
        );
        let xml = compose(Some(&x86), &additions(&[r"X:\D\a"], &[]))
            .expect("compose")
            .expect("file");
        assert!(xml.starts_with(DECLARATION), "{xml}");
        // The x86 components stay as they are; amd64 gets its own.
        assert_eq!(xml.matches(PNP_COMPONENT).count(), 2, "{xml}");
        assert_eq!(
            texts(&xml, "Path").last().map(String::as_str),
            Some(r"X:\D\a")
        );
    }

    #[test]
    fn files_that_are_not_answer_files_are_refused() {
        for bad in [
            "",
            "<html></html>",
            "<unattend><settings>",
            "not xml <",
            "<a></b>",
        ] {
            assert!(
                compose(Some(bad), &additions(&["X:\\A"], &[])).is_err(),
                "{bad:?}"
            );
        }
        let odd_order = MDT.replace("<Order>1</Order>", "<Order>first</Order>");
        assert!(compose(Some(&odd_order), &additions(&[], &["x.exe"])).is_err());
    }
}
