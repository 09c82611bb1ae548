//! `X:\Unattend.xml` for driver injection. `wpeinit`, which Windows PE's `startnet.cmd` runs
//! at start-up, processes the windowsPE pass of that answer file; its
//! `Microsoft-Windows-PnpCustomizationsWinPE` component lists `DriverPaths` whose drivers
//! Plug and Play installs then — before `wpeinit` brings up the network, so an injected
//! network driver is in place when it is needed.
//!
//! A boot image may have an answer file already (MDT's starts its wizard from one): it is
//! kept, with its own driver paths, and only the PnP component is rewritten.

use std::borrow::Cow;

use quick_xml::{
    Reader, Writer,
    events::{BytesStart, Event},
};

const PNP_COMPONENT: &str = "Microsoft-Windows-PnpCustomizationsWinPE";

/// Where driver folders go inside the image, and how Windows PE sees that folder.
pub const DRIVERS_DIR: &str = "/Windows/Wimdeck/Drivers";
pub const DRIVERS_DIR_IN_PE: &str = r"X:\Windows\Wimdeck\Drivers";

fn escape(text: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// The PnP component listing `paths` for a Windows PE of `architecture` (`x86`, `amd64`,
/// `arm64`).
fn pnp_component(architecture: &str, paths: &[String], indent: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{indent}<component name=\"{PNP_COMPONENT}\" processorArchitecture=\"{}\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        escape(architecture)
    ));
    out.push_str(&format!("{indent}  <DriverPaths>\n"));
    for (i, path) in paths.iter().enumerate() {
        out.push_str(&format!(
            "{indent}    <PathAndCredentials wcm:action=\"add\" wcm:keyValue=\"{}\">\n{indent}      <Path>{}</Path>\n{indent}    </PathAndCredentials>\n",
            i + 1,
            escape(path)
        ));
    }
    out.push_str(&format!("{indent}  </DriverPaths>\n{indent}</component>\n"));
    out
}

/// A new answer file that only installs the drivers in `paths`.
pub fn new_answer_file(architecture: &str, paths: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- Written by Wimdeck: drivers for wpeinit to install at start-up. -->\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"windowsPE\">\n{}  </settings>\n</unattend>\n",
        pnp_component(architecture, paths, "    ")
    )
}

fn attribute(element: &BytesStart<'_>, name: &str) -> Option<String> {
    element
        .attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(Cow::into_owned)
        })
}

fn local(element: &BytesStart<'_>) -> String {
    element.local_name().as_ref().to_owned()
}

/// `existing` with its PnP component replaced by one listing its own driver paths followed
/// by `paths`; everything else as it was.
pub fn merge_answer_file(
    existing: &str,
    architecture: &str,
    paths: &[String],
) -> Result<String, String> {
    let mut reader = Reader::from_str(existing);
    let mut writer = Writer::new(Vec::new());
    let mut depth = 0usize;
    let mut saw_root = false;
    let mut in_pe_settings = false;
    let mut wrote_component = false;
    // While inside the old PnP component: its depth, and the text of its <Path> elements.
    let mut skipping: Option<usize> = None;
    let mut path_text: Option<String> = None;
    let mut kept_paths: Vec<String> = Vec::new();
    let error = |e: quick_xml::Error, reader: &Reader<&[u8]>| {
        format!(
            "it is not well-formed XML (near byte {}): {e}",
            reader.buffer_position()
        )
    };
    loop {
        let event = reader.read_event().map_err(|e| error(e, &reader))?;
        if let Some(start) = skipping {
            match &event {
                Event::Start(e) => {
                    depth += 1;
                    path_text = (local(e) == "Path").then(String::new);
                }
                Event::End(_) => {
                    depth -= 1;
                    if let Some(text) = path_text.take().filter(|t| !t.trim().is_empty()) {
                        kept_paths.push(text.trim().to_owned());
                    }
                    if depth < start {
                        skipping = None;
                    }
                }
                Event::Text(t) => {
                    if let Some(text) = path_text.as_mut() {
                        text.push_str(
                            &quick_xml::escape::unescape(&t.clone().into_inner())
                                .map_err(|e| format!("a <Path> cannot be read: {e}"))?,
                        );
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(text) = path_text.as_mut() {
                        let resolved = match r.resolve_char_ref() {
                            Ok(Some(c)) => Some(c.to_string()),
                            _ => quick_xml::escape::resolve_predefined_entity(
                                &r.clone().into_inner(),
                            )
                            .map(str::to_owned),
                        };
                        text.push_str(&resolved.ok_or("a <Path> uses an unknown entity")?);
                    }
                }
                Event::Eof => return Err("it ends inside an element".into()),
                _ => {}
            }
            continue;
        }
        match &event {
            Event::Start(e) => {
                let name = local(e);
                if depth == 0 {
                    if name != "unattend" {
                        return Err(format!("its root element is <{name}>, not <unattend>"));
                    }
                    saw_root = true;
                }
                if name == "settings" && attribute(e, "pass").as_deref() == Some("windowsPE") {
                    in_pe_settings = true;
                }
                if in_pe_settings
                    && name == "component"
                    && attribute(e, "name").as_deref() == Some(PNP_COMPONENT)
                {
                    depth += 1;
                    skipping = Some(depth);
                    continue;
                }
                depth += 1;
            }
            Event::Empty(e) => {
                let name = local(e);
                if depth == 0 && name == "unattend" {
                    saw_root = true;
                    let text = format!(
                        "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"windowsPE\">\n{}  </settings>\n</unattend>",
                        pnp_component(architecture, paths, "    ")
                    );
                    writer.get_mut().extend_from_slice(text.as_bytes());
                    wrote_component = true;
                    continue;
                }
                if name == "settings" && attribute(e, "pass").as_deref() == Some("windowsPE") {
                    let text = format!(
                        "<settings pass=\"windowsPE\">\n{}  </settings>",
                        pnp_component(architecture, paths, "    ")
                    );
                    writer.get_mut().extend_from_slice(text.as_bytes());
                    wrote_component = true;
                    continue;
                }
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                let name = e.local_name().as_ref().to_owned();
                if name == "settings" && in_pe_settings {
                    in_pe_settings = false;
                    if !wrote_component {
                        let mut all = kept_paths.clone();
                        all.extend(paths.iter().cloned());
                        let text = format!(
                            "  {}  ",
                            pnp_component(architecture, &all, "    ").trim_start()
                        );
                        writer.get_mut().extend_from_slice(text.as_bytes());
                        wrote_component = true;
                    }
                }
                if depth == 0 && name == "unattend" && !wrote_component {
                    let text = format!(
                        "  <settings pass=\"windowsPE\">\n{}  </settings>\n",
                        pnp_component(architecture, paths, "    ")
                    );
                    writer.get_mut().extend_from_slice(text.as_bytes());
                    wrote_component = true;
                }
            }
            Event::Eof if depth > 0 => return Err("it ends inside an element".into()),
            Event::Eof => break,
            _ => {}
        }
        writer
            .write_event(event)
            .map_err(|e| format!("it cannot be rewritten: {e}"))?;
    }
    if !saw_root {
        return Err("it has no <unattend> element".into());
    }
    String::from_utf8(writer.into_inner()).map_err(|e| e.to_string())
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

    #[test]
    fn a_new_answer_file_lists_each_driver_folder() {
        let xml = new_answer_file("amd64", &[r"X:\D\001".into(), r"X:\D\002".into()]);
        assert!(xml.contains(r#"<component name="Microsoft-Windows-PnpCustomizationsWinPE" processorArchitecture="amd64""#));
        assert!(xml.contains(r#"wcm:keyValue="2">"#));
        assert!(xml.contains(r"<Path>X:\D\002</Path>"));
        // It is itself a valid input for a later merge.
        let again = merge_answer_file(&xml, "amd64", &[r"X:\D\003".into()]).expect("merge");
        assert_eq!(again.matches(PNP_COMPONENT).count(), 1);
        assert!(again.contains(r"<Path>X:\D\003</Path>"));
    }

    #[test]
    fn merging_keeps_everything_else_and_the_admins_own_driver_paths() {
        let merged = merge_answer_file(MDT, "amd64", &[r"X:\Windows\Wimdeck\Drivers\001".into()])
            .expect("merge");
        assert!(merged.contains(r"wscript.exe X:\Deploy\Scripts\LiteTouch.wsf"));
        assert!(merged.contains("<ColorDepth>32</ColorDepth>"));
        assert_eq!(merged.matches(PNP_COMPONENT).count(), 1);
        let own = merged
            .find(r"<Path>X:\Vendor &amp; Co\Drivers</Path>")
            .expect("kept");
        let ours = merged
            .find(r"<Path>X:\Windows\Wimdeck\Drivers\001</Path>")
            .expect("added");
        assert!(own < ours);
    }

    #[test]
    fn an_answer_file_without_a_windows_pe_pass_gets_one() {
        let xml = r#"<?xml version="1.0"?><unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="oobeSystem"/></unattend>"#;
        let merged = merge_answer_file(xml, "x86", &["X:\\A".into()]).expect("merge");
        assert!(merged.contains(r#"<settings pass="oobeSystem"/>"#));
        assert!(merged.contains(r#"<settings pass="windowsPE">"#));
        assert!(merged.contains(r#"processorArchitecture="x86""#));
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
            assert!(merge_answer_file(bad, "amd64", &[]).is_err(), "{bad:?}");
        }
    }
}
