//! A small XML tree for answer files: read a document, change elements, write it back with
//! everything else as it was (text kept escaped as read, comments, declarations, attribute
//! order and namespaces untouched).

use std::borrow::Cow;

use quick_xml::{
    Reader, Writer,
    events::{BytesEnd, BytesStart, BytesText, Event},
};

/// A node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Element(Element),
    /// Character data as it appears in the file (entities still escaped).
    Text(String),
    /// A comment, CDATA section, processing instruction or declaration, as written.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    start: BytesStart<'static>,
    pub children: Vec<Node>,
}

impl Element {
    /// A new element with attributes (given unescaped).
    pub fn new(name: &str, attributes: &[(&str, &str)]) -> Self {
        let mut start = BytesStart::new(name.to_owned());
        for (key, value) in attributes {
            start.push_attribute((*key, *value));
        }
        Self {
            start,
            children: Vec::new(),
        }
    }

    /// A new element holding text (given unescaped).
    pub fn with_text(name: &str, text: &str) -> Self {
        let mut element = Self::new(name, &[]);
        element
            .children
            .push(Node::Text(quick_xml::escape::escape(text).into_owned()));
        element
    }

    /// The name without its namespace prefix.
    pub fn local_name(&self) -> String {
        self.start.local_name().as_ref().to_owned()
    }

    /// An attribute's value by its local name, unescaped.
    pub fn attribute(&self, name: &str) -> Option<String> {
        self.start
            .attributes()
            .flatten()
            .find(|a| a.key.local_name().as_ref() == name)
            .and_then(|a| {
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .ok()
                    .map(Cow::into_owned)
            })
    }

    /// The element's own text, unescaped and trimmed (`None` if an entity is unknown).
    pub fn text(&self) -> Option<String> {
        let raw: String = self
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        quick_xml::escape::unescape(&raw)
            .ok()
            .map(|t| t.trim().to_owned())
    }

    /// Replaces the element's content with `text` (given unescaped).
    pub fn set_text(&mut self, text: &str) {
        self.children = vec![Node::Text(quick_xml::escape::escape(text).into_owned())];
    }

    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    pub fn elements_mut(&mut self) -> impl Iterator<Item = &mut Element> {
        self.children.iter_mut().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element with this local name.
    #[cfg(test)]
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.local_name() == name)
    }

    pub fn child_mut(&mut self, name: &str) -> Option<&mut Element> {
        self.elements_mut().find(|e| e.local_name() == name)
    }

    /// Appends a child element, indented like the element's other children.
    pub fn push(&mut self, child: Element, indent: &str) {
        let closing = format!("\n{indent}");
        // The whitespace before the closing tag stays last.
        let trailing = match self.children.last() {
            Some(Node::Text(t)) if t.trim().is_empty() => self.children.pop(),
            _ => None,
        };
        self.children.push(Node::Text(format!("\n{indent}  ")));
        self.children.push(Node::Element(child));
        self.children.push(trailing.unwrap_or(Node::Text(closing)));
    }

    /// The first child element `matches` accepts, made with `make` (and appended) when there
    /// is none.
    pub fn find_or_push(
        &mut self,
        matches: impl Fn(&Element) -> bool,
        make: impl FnOnce() -> Element,
        indent: &str,
    ) -> Option<&mut Element> {
        if !self.elements().any(&matches) {
            self.push(make(), indent);
        }
        self.elements_mut().find(|e| matches(e))
    }

    fn write(&self, writer: &mut Writer<Vec<u8>>) -> std::io::Result<()> {
        if self.children.is_empty() {
            return writer.write_event(Event::Empty(self.start.borrow()));
        }
        writer.write_event(Event::Start(self.start.borrow()))?;
        for child in &self.children {
            match child {
                Node::Element(e) => e.write(writer)?,
                Node::Text(t) => {
                    writer.write_event(Event::Text(BytesText::from_escaped(t.as_str())))?
                }
                Node::Other(raw) => writer.get_mut().extend_from_slice(raw.as_bytes()),
            }
        }
        writer.write_event(Event::End(BytesEnd::new(
            self.start.name().as_ref().to_owned(),
        )))
    }
}

/// Deeper nesting is refused: answer files nest six or seven levels.
const MAX_DEPTH: usize = 64;

/// A document: what comes before the root element, the root, and what follows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub prolog: Vec<Node>,
    pub root: Element,
    pub epilog: Vec<Node>,
}

impl Document {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut reader = Reader::from_str(text);
        let mut stack: Vec<Element> = Vec::new();
        let mut prolog = Vec::new();
        let mut epilog = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let position = reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|e| format!("it is not well-formed XML (near byte {position}): {e}"))?;
            let node = match event {
                Event::Start(e) => {
                    if root.is_some() {
                        return Err("it has more than one root element".into());
                    }
                    if stack.len() >= MAX_DEPTH {
                        return Err(format!(
                            "its elements nest deeper than {MAX_DEPTH} levels, which no answer file does"
                        ));
                    }
                    stack.push(Element {
                        start: e.into_owned(),
                        children: Vec::new(),
                    });
                    continue;
                }
                Event::End(e) => {
                    let element = stack.pop().ok_or("it closes an element it never opened")?;
                    if e.name().as_ref() != element.start.name().as_ref() {
                        return Err(format!(
                            "<{}> is closed by </{}>",
                            element.start.name().as_ref(),
                            e.name().as_ref()
                        ));
                    }
                    Node::Element(element)
                }
                Event::Empty(e) => {
                    if root.is_some() && stack.is_empty() {
                        return Err("it has more than one root element".into());
                    }
                    Node::Element(Element {
                        start: e.into_owned(),
                        children: Vec::new(),
                    })
                }
                Event::Text(t) => Node::Text(t.into_inner().into_owned()),
                Event::GeneralRef(r) => Node::Text(format!("&{};", &*r.into_inner())),
                Event::CData(c) => Node::Other(format!("<![CDATA[{}]]>", &*c.into_inner())),
                Event::Comment(c) => Node::Other(format!("<!--{}-->", &*c.into_inner())),
                Event::PI(p) => Node::Other(format!("<?{}?>", &*p.into_inner())),
                Event::Decl(d) => Node::Other(format!("<?{}?>", d.as_ref())),
                Event::DocType(d) => Node::Other(format!("<!DOCTYPE {}>", &*d.into_inner())),
                Event::Eof => break,
            };
            match stack.last_mut() {
                Some(parent) => parent.children.push(node),
                None => match node {
                    Node::Element(e) => root = Some(e),
                    Node::Text(t) if t.trim().is_empty() => {
                        let side = if root.is_some() {
                            &mut epilog
                        } else {
                            &mut prolog
                        };
                        side.push(Node::Text(t));
                    }
                    Node::Text(_) => return Err("it has text outside its root element".into()),
                    other => {
                        let side = if root.is_some() {
                            &mut epilog
                        } else {
                            &mut prolog
                        };
                        side.push(other);
                    }
                },
            }
        }
        if !stack.is_empty() {
            return Err("it ends inside an element".into());
        }
        let root = root.ok_or("it has no root element")?;
        Ok(Self {
            prolog,
            root,
            epilog,
        })
    }

    pub fn render(&self) -> String {
        let mut writer = Writer::new(Vec::new());
        let write = |writer: &mut Writer<Vec<u8>>, nodes: &[Node]| {
            for node in nodes {
                match node {
                    Node::Element(e) => e.write(writer)?,
                    Node::Text(t) => writer.get_mut().extend_from_slice(t.as_bytes()),
                    Node::Other(raw) => writer.get_mut().extend_from_slice(raw.as_bytes()),
                }
            }
            Ok::<(), std::io::Error>(())
        };
        // Writing to memory cannot fail.
        let _ = write(&mut writer, &self.prolog);
        let _ = self.root.write(&mut writer);
        let _ = write(&mut writer, &self.epilog);
        String::from_utf8_lossy(&writer.into_inner()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_writes_back_as_it_was_read() {
        let text = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- note -->\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"windowsPE\">\n    <Path>X:\\A &amp; B</Path>\n    <Empty/>\n    <![CDATA[<raw>]]>\n  </settings>\n</unattend>\n";
        let doc = Document::parse(text).expect("parse");
        assert_eq!(doc.render(), text);
        let path = doc.root.child("settings").and_then(|s| s.child("Path"));
        assert_eq!(path.and_then(Element::text).as_deref(), Some(r"X:\A & B"));
        assert_eq!(
            doc.root
                .child("settings")
                .and_then(|s| s.attribute("pass"))
                .as_deref(),
            Some("windowsPE")
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        for bad in [
            "",
            "<a></b>",
            "<a>",
            "x<a/>",
            "<a/><b/>",
            "not xml <",
            deep.as_str(),
        ] {
            assert!(Document::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_doctype_writes_back_as_it_was() {
        let text = "<!DOCTYPE unattend>\n<unattend/>";
        assert_eq!(Document::parse(text).expect("parse").render(), text);
    }

    #[test]
    fn pushed_children_are_indented_and_escaped() {
        let mut doc = Document::parse("<a>\n  <b/>\n</a>").expect("parse");
        doc.root.push(Element::with_text("c", "1 < 2"), "");
        assert_eq!(doc.render(), "<a>\n  <b/>\n  <c>1 &lt; 2</c>\n</a>");
    }
}
