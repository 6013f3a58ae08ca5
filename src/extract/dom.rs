//! A flat, pre-order copy of the parsed tree with the per-node facts the extractor scores on.
//!
//! Every node's subtree is the index range `i..end`, so walks are plain loops (no recursion, so
//! arbitrarily deep documents are safe) and skipping a subtree is a jump. Text is borrowed from
//! the `scraper::Html`; nothing is copied until the chosen body is rendered.

use scraper::{ElementRef, Html, Node as HtmlNode};

pub(crate) const NONE: u32 = u32::MAX;

/// Element kinds the extractor distinguishes; everything else is `Other` (treated as inline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    Document,
    Text,
    Other,
    Html,
    Head, // descended for metadata; holds no visible text
    Body,
    Junk, // script, style, head, form controls, media: never text of the article
    Nav,
    Header,
    Footer,
    Aside,
    Main,
    Article,
    Section,
    Div,
    P,
    Br,
    Hr,
    H1,
    H(u8), // h2..h6
    Ul,
    Ol,
    Li,
    Dl,
    Dt,
    Dd,
    Table,
    Tr,
    Td,
    Th,
    TableOther, // thead, tbody, tfoot, caption, colgroup
    Blockquote,
    Pre,
    Figure,
    Figcaption,
    Form,
    A,
    Img,
    Address,
    Details,
    Center,
    Time,
    Small,
    MathToken, // mi, mo, mn...: inline, but separate tokens
}

impl Tag {
    fn from_name(name: &str) -> Tag {
        match name {
            "html" => Tag::Html,
            "body" => Tag::Body,
            "head" => Tag::Head,
            "script" | "style" | "noscript" | "template" | "title" | "meta" | "link" | "svg"
            | "iframe" | "object" | "embed" | "canvas" | "video" | "audio" | "select"
            | "option" | "textarea" | "input" | "button" | "dialog" | "map" | "source"
            | "track" | "frameset" | "frame" | "applet" | "datalist" | "output" | "progress"
            | "meter" | "base" | "param" => Tag::Junk,
            // Ruby annotations (furigana, pinyin) gloss the text; they are not part of it.
            "rt" | "rp" => Tag::Junk,
            "nav" | "menu" => Tag::Nav,
            "header" => Tag::Header,
            "footer" => Tag::Footer,
            "aside" => Tag::Aside,
            "main" => Tag::Main,
            "article" => Tag::Article,
            "section" => Tag::Section,
            "div" | "hgroup" | "fieldset" | "legend" | "noindex" => Tag::Div,
            "p" => Tag::P,
            "br" => Tag::Br,
            "hr" => Tag::Hr,
            "h1" => Tag::H1,
            "h2" => Tag::H(2),
            "h3" => Tag::H(3),
            "h4" => Tag::H(4),
            "h5" => Tag::H(5),
            "h6" => Tag::H(6),
            "ul" => Tag::Ul,
            "ol" => Tag::Ol,
            "li" => Tag::Li,
            "dl" => Tag::Dl,
            "dt" => Tag::Dt,
            "dd" => Tag::Dd,
            "table" => Tag::Table,
            "tr" => Tag::Tr,
            "td" => Tag::Td,
            "th" => Tag::Th,
            "thead" | "tbody" | "tfoot" | "caption" | "colgroup" | "col" => Tag::TableOther,
            "blockquote" => Tag::Blockquote,
            "pre" => Tag::Pre,
            "figure" => Tag::Figure,
            "figcaption" => Tag::Figcaption,
            "form" => Tag::Form,
            "a" => Tag::A,
            "img" | "picture" => Tag::Img,
            "address" => Tag::Address,
            "details" | "summary" => Tag::Details,
            "center" => Tag::Center,
            "time" => Tag::Time,
            "small" => Tag::Small,
            "mi" | "mo" | "mn" | "ms" | "mtext" => Tag::MathToken,
            _ => Tag::Other,
        }
    }

    /// Tags that start a new line of text when rendered.
    pub(crate) fn is_block(self) -> bool {
        !matches!(
            self,
            Tag::Text
                | Tag::Other
                | Tag::A
                | Tag::Img
                | Tag::Time
                | Tag::Small
                | Tag::Junk
                | Tag::Br
                | Tag::MathToken
        )
    }

    pub(crate) fn is_heading(self) -> bool {
        matches!(self, Tag::H1 | Tag::H(_))
    }
}

/// Whether an `<a>` with this href goes anywhere.
fn leads_somewhere(href: Option<&str>) -> bool {
    href.is_some_and(|h| {
        let h = h.trim_start().as_bytes();
        !h.get(..11)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"javascript:"))
    })
}

/// Whether an element has a block element among its children.
fn wraps_blocks(e: ElementRef<'_>) -> bool {
    e.children().any(|c| {
        c.value()
            .as_element()
            .is_some_and(|e| Tag::from_name(e.name()).is_block())
    })
}

// Node flags.
pub(crate) const F_HIDDEN: u16 = 1; // hidden attribute, display:none, aria-hidden, sr-only
pub(crate) const F_BOILER: u16 = 2; // class/id/role says navigation, comments, share bar, ad...
pub(crate) const F_STRONG_POS: u16 = 4; // class/id/itemprop says "this is the article body"
pub(crate) const F_IN_LINK: u16 = 8; // inside an <a>
pub(crate) const F_HAS_BLOCK: u16 = 16; // some descendant is a block element
pub(crate) const F_IN_PRE: u16 = 32; // inside <pre>: keep whitespace
pub(crate) const F_COMMENTS: u16 = 64; // class/id/role says comment section (a subtype of BOILER)
pub(crate) const F_LEDE: u16 = 128; // class/itemprop says standfirst: lead, teaser, intro, summary
pub(crate) const F_OVERLAY: u16 = 256; // dialog, modal, cookie or login box (a subtype of BOILER)

pub(crate) struct Node<'a> {
    pub el: Option<ElementRef<'a>>,
    pub text: &'a str,
    pub tag: Tag,
    pub parent: u32,
    /// One past the last descendant.
    pub end: u32,
    pub flags: u16,
    /// Readability-style class/id weight: +25 per positive hint, -25 per negative one.
    pub weight: i16,
    /// Non-whitespace characters of visible text in the subtree.
    pub chars: u32,
    /// Of which inside links.
    pub link_chars: u32,
    /// Characters in text children and inline children without blocks (the node's own prose).
    pub inline_chars: u32,
    pub commas: u32,
    /// Paragraph-like descendants with some prose (p, or li/td/div with direct text).
    pub paras: u32,
}

pub(crate) struct Dom<'a> {
    pub nodes: Vec<Node<'a>>,
    pub body: u32,
}

impl<'a> Dom<'a> {
    pub(crate) fn link_density(&self, i: u32) -> f32 {
        let n = &self.nodes[i as usize];
        if n.chars == 0 {
            0.0
        } else {
            n.link_chars as f32 / n.chars as f32
        }
    }

    pub(crate) fn attr(&self, i: u32, name: &str) -> Option<&'a str> {
        self.nodes[i as usize].el.and_then(|e| e.value().attr(name))
    }

    /// Is `a` an ancestor of (or equal to) `b`?
    pub(crate) fn contains(&self, a: u32, b: u32) -> bool {
        a <= b && b < self.nodes[a as usize].end
    }
}

/// Counts visible characters the way scoring wants them: non-whitespace code points.
pub(crate) fn count_chars(s: &str) -> (u32, u32) {
    let mut chars = 0u32;
    let mut commas = 0u32;
    for &b in s.as_bytes() {
        // Continuation bytes and ASCII whitespace do not start a visible character.
        if b & 0xC0 != 0x80 && !matches!(b, b' ' | b'\n' | b'\t' | b'\r' | 0x0c) {
            chars += 1;
            if b == b',' {
                commas += 1;
            }
        }
    }
    if chars as usize != s.len() && s.contains(['，', '、', '،']) {
        commas += s.matches(['，', '、', '،']).count() as u32;
    }
    (chars, commas)
}

/// Whether a node sits between words: a sibling next to it is text with more than whitespace.
fn in_running_text(prev: Option<&HtmlNode>, next: Option<&HtmlNode>) -> bool {
    let words = |n: Option<&HtmlNode>| matches!(n, Some(HtmlNode::Text(t)) if !t.trim().is_empty());
    words(prev) || words(next)
}

/// Builds the flat tree. Never recurses; cost is linear in the number of nodes.
pub(crate) fn build(doc: &Html) -> Dom<'_> {
    let mut nodes: Vec<Node> = Vec::with_capacity(1024);
    let root = doc.tree.root();
    nodes.push(Node {
        el: None,
        text: "",
        tag: Tag::Document,
        parent: NONE,
        end: NONE,
        flags: 0,
        weight: 0,
        chars: 0,
        link_chars: 0,
        inline_chars: 0,
        commas: 0,
        paras: 0,
    });
    let mut body = NONE;
    // Open ancestors (indices into `nodes`) of the node being visited.
    let mut stack: Vec<u32> = vec![0];
    let mut cur = match root.first_child() {
        Some(c) => c,
        None => {
            nodes[0].end = 1;
            return Dom { nodes, body: 0 };
        }
    };
    loop {
        let parent = *stack.last().unwrap();
        let pflags = nodes[parent as usize].flags & (F_IN_LINK | F_IN_PRE | F_HIDDEN);
        let mut descend = false;
        match cur.value() {
            HtmlNode::Text(t) => {
                let text: &str = t;
                nodes.push(Node {
                    el: None,
                    text,
                    tag: Tag::Text,
                    parent,
                    end: nodes.len() as u32 + 1,
                    flags: pflags,
                    weight: 0,
                    chars: 0,
                    link_chars: 0,
                    inline_chars: 0,
                    commas: 0,
                    paras: 0,
                });
            }
            HtmlNode::Element(e) => {
                let el = ElementRef::wrap(cur).unwrap();
                let tag = match Tag::from_name(e.name()) {
                    // An anchor that leads nowhere (no href, or a script hook) around blocks
                    // is a wrapper, not a link: its text counts as prose. (Inline, it is a
                    // button or a scripted menu item.)
                    Tag::A if !leads_somewhere(e.attr("href")) && wraps_blocks(el) => Tag::Other,
                    t => t,
                };
                let mut flags = pflags;
                let mut weight = 0i16;
                if tag == Tag::A {
                    flags |= F_IN_LINK;
                }
                if tag == Tag::Pre {
                    flags |= F_IN_PRE;
                }
                if tag == Tag::Body && body == NONE {
                    body = nodes.len() as u32;
                }
                if tag != Tag::Junk {
                    let mut c = super::hints::classify(e, tag);
                    // Furniture comes in blocks; a classed inline element between words (a
                    // formula whose class names a context menu, say) is part of the sentence.
                    // A formula (MathML, or MathJax's rendering of it) is never furniture.
                    if c.flags & F_BOILER != 0
                        && (e.name() == "math"
                            || e.name().starts_with("mjx-")
                            || !tag.is_block()
                                && in_running_text(
                                    cur.prev_sibling().map(|n| n.value()),
                                    cur.next_sibling().map(|n| n.value()),
                                ))
                    {
                        c.flags &= !F_BOILER;
                    }
                    flags |= c.flags;
                    weight = c.weight;
                    descend = true;
                }
                nodes.push(Node {
                    el: Some(el),
                    text: "",
                    tag,
                    parent,
                    end: NONE,
                    flags,
                    weight,
                    chars: 0,
                    link_chars: 0,
                    inline_chars: 0,
                    commas: 0,
                    paras: 0,
                });
            }
            HtmlNode::Document | HtmlNode::Fragment => descend = true,
            _ => {}
        }
        let pushed = nodes.len() as u32 - 1;
        if descend && let Some(c) = cur.first_child() {
            // Document/fragment wrappers are not pushed; their children hang off `parent`.
            if matches!(cur.value(), HtmlNode::Element(_)) {
                stack.push(pushed);
            }
            cur = c;
            continue;
        }
        if matches!(cur.value(), HtmlNode::Element(_)) {
            nodes[pushed as usize].end = pushed + 1;
        }
        // Move to the next node in pre-order, closing finished ancestors on the way up.
        loop {
            if let Some(s) = cur.next_sibling() {
                cur = s;
                break;
            }
            match cur.parent() {
                Some(p) if p.parent().is_some() => {
                    cur = p;
                    if matches!(p.value(), HtmlNode::Element(_)) {
                        let i = stack.pop().unwrap();
                        nodes[i as usize].end = nodes.len() as u32;
                    }
                }
                _ => {
                    let n = nodes.len() as u32;
                    for i in stack.drain(..) {
                        nodes[i as usize].end = n;
                    }
                    return finish(nodes, body);
                }
            }
        }
    }
}

/// Bottom-up totals. Children have larger indices than their parent, so one reverse pass suffices.
fn finish(mut nodes: Vec<Node<'_>>, body: u32) -> Dom<'_> {
    for i in (1..nodes.len()).rev() {
        let parent_hidden = nodes[nodes[i].parent as usize].flags & F_HIDDEN != 0;
        let n = &mut nodes[i];
        if n.tag == Tag::Text {
            if n.flags & F_HIDDEN == 0 {
                let (c, k) = count_chars(n.text);
                n.chars = c;
                n.commas = k;
                n.inline_chars = c;
            }
        } else if n.flags & F_HIDDEN != 0 && !parent_hidden {
            // A hidden subtree contributes nothing upward.
            continue;
        }
        let n = &mut nodes[i];
        if n.tag == Tag::A {
            n.link_chars = n.chars;
        }
        let is_para = match n.tag {
            Tag::P | Tag::Pre => n.chars >= 20,
            Tag::Td
            | Tag::Li
            | Tag::Dd
            | Tag::Blockquote
            | Tag::Div
            | Tag::Section
            | Tag::Article
            | Tag::Main
            | Tag::Other => n.inline_chars >= 40,
            _ => false,
        };
        let (chars, link, commas, mut paras, tag, flags) =
            (n.chars, n.link_chars, n.commas, n.paras, n.tag, n.flags);
        if is_para {
            paras += 1;
        }
        let parent = n.parent as usize;
        let p = &mut nodes[parent];
        p.chars += chars;
        p.link_chars += link;
        p.commas += commas;
        p.paras += paras;
        if tag.is_block() || flags & F_HAS_BLOCK != 0 {
            p.flags |= F_HAS_BLOCK;
        } else {
            p.inline_chars += chars;
        }
    }
    let body = if body == NONE { 0 } else { body };
    Dom { nodes, body }
}
