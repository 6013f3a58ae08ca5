//! OPML subscription lists: reading the feeds of `newswire feeds import FILE.opml` and writing
//! `newswire feeds export`.
//!
//! Reading takes every `<outline>` with an `xmlUrl`, at any depth (folders are flattened), with
//! its `title` or else its `text`. Parsing uses quick-xml, already in the build through feed-rs,
//! so entities, CDATA and comments are handled as XML says. Writing produces OPML 2.0 that
//! feed readers import.

use quick_xml::XmlVersion;
use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};

/// A feed in a subscription list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    pub url: String,
    pub title: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("not OPML: {0}")]
pub struct OpmlError(String);

/// The feeds of an OPML document, in document order.
///
/// # Errors
/// The text is not well-formed XML, or has no `<opml>` root.
pub fn parse(text: &str) -> Result<Vec<Outline>, OpmlError> {
    let mut reader = quick_xml::Reader::from_str(text.trim_start_matches('\u{feff}'));
    let mut out = Vec::new();
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| OpmlError(format!("at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let name = e.local_name();
                if name.as_ref() == "opml" {
                    saw_root = true;
                } else if name.as_ref() == "outline"
                    && let Some(o) = outline(&e)?
                {
                    out.push(o);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(OpmlError("no <opml> element".into()));
    }
    Ok(out)
}

fn outline(e: &BytesStart<'_>) -> Result<Option<Outline>, OpmlError> {
    let (mut url, mut title, mut text) = (None, None, None);
    for attr in e.attributes() {
        let attr = attr.map_err(|e| OpmlError(e.to_string()))?;
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| OpmlError(e.to_string()))?;
        let value = value.trim().to_owned();
        match attr.key.local_name().as_ref() {
            "xmlUrl" => url = Some(value),
            "title" => title = Some(value),
            "text" => text = Some(value),
            _ => {}
        }
    }
    Ok(url.filter(|u| !u.is_empty()).map(|url| Outline {
        url,
        title: title.or(text).filter(|t| !t.is_empty()),
    }))
}

/// An OPML 2.0 document listing `feeds`.
pub fn write(title: &str, feeds: &[Outline]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head>\n",
    );
    s.push_str(&format!(
        "    <title>{}</title>\n  </head>\n  <body>\n",
        escape(title)
    ));
    for f in feeds {
        let label = escape(f.title.as_deref().unwrap_or(&f.url)).into_owned();
        s.push_str(&format!(
            "    <outline type=\"rss\" text=\"{label}\" title=\"{label}\" xmlUrl=\"{}\"/>\n",
            escape(f.url.as_str())
        ));
    }
    s.push_str("  </body>\n</opml>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_outlines_entities_and_titles() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by a feed reader -->
<opml version="1.0"><head><title>Mine</title></head><body>
  <outline text="World">
    <outline text="BBC &amp; co" type="rss" xmlUrl="https://feeds.example/world.xml?a=1&amp;b=2"/>
    <outline title="Titled" text="ignored" xmlUrl='http://b.example/rss'></outline>
  </outline>
  <outline text="no feed here"/>
  <outline xmlUrl="http://c.example/atom"/>
</body></opml>"#;
        let feeds = parse(doc).unwrap();
        assert_eq!(
            feeds,
            vec![
                Outline {
                    url: "https://feeds.example/world.xml?a=1&b=2".into(),
                    title: Some("BBC & co".into())
                },
                Outline {
                    url: "http://b.example/rss".into(),
                    title: Some("Titled".into())
                },
                Outline {
                    url: "http://c.example/atom".into(),
                    title: None
                },
            ]
        );
    }

    #[test]
    fn write_then_parse_round_trips() {
        let feeds = vec![
            Outline {
                url: "https://a.example/f?x=1&y=\"2\"".into(),
                title: Some("<A> & \"B\"".into()),
            },
            Outline {
                url: "http://b.example/rss".into(),
                title: None,
            },
        ];
        let doc = write("newswire feeds", &feeds);
        let back = parse(&doc).unwrap();
        assert_eq!(back[0], feeds[0]);
        assert_eq!(back[1].url, feeds[1].url);
    }

    #[test]
    fn junk_is_an_error() {
        assert!(parse("http://a.example/feed\n").is_err());
        assert!(parse("<opml><body><outline xmlUrl=\"x\"></body>").is_err());
    }
}
