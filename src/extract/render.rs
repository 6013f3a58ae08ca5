//! Turning the chosen body element(s) into plain text paragraphs, dropping furniture inside.
//!
//! A block element starts and ends a paragraph; `<br><br>` does too, a single `<br>` is a line
//! break. Whitespace is collapsed (except in `<pre>`). Inside the body, link lists, furniture
//! (share bars, related boxes, bylines, datelines) and short boilerplate lines are dropped.

use super::dom::{Dom, F_BOILER, F_COMMENTS, F_HIDDEN, F_IN_LINK, F_IN_PRE, Tag};

pub(crate) struct Para {
    pub start: usize,
    pub end: usize,
    pub chars: u32,
    pub link_chars: u32,
    pub tag: Tag,
}

pub(crate) struct Rendered {
    pub buf: String,
    pub paras: Vec<Para>,
}

pub(crate) struct Options<'b> {
    /// Nodes to drop with their subtree (site-rule removals).
    pub removed: Option<&'b [bool]>,
    /// Drop elements whose hints say furniture (unless they hold most of the body).
    pub furniture: bool,
    /// Apply link-density and class-weight cleaning to containers inside the body.
    pub clean: bool,
}

struct Writer {
    buf: String,
    paras: Vec<Para>,
    start: usize,
    chars: u32,
    link_chars: u32,
    tag: Tag,
    space: bool,
    brs: u8,
}

impl Writer {
    fn flush(&mut self) {
        if self.chars > 0 {
            let end = self.buf.trim_end().len();
            self.buf.truncate(end);
            self.paras.push(Para {
                start: self.start,
                end,
                chars: self.chars,
                link_chars: self.link_chars,
                tag: self.tag,
            });
        } else {
            self.buf.truncate(self.start);
        }
        self.start = self.buf.len();
        self.chars = 0;
        self.link_chars = 0;
        self.space = false;
        self.brs = 0;
    }

    fn text(&mut self, t: &str, link: bool, pre: bool) {
        for ch in t.chars() {
            if ch.is_whitespace() && !(pre && ch == '\n') {
                if self.chars > 0 {
                    self.space = true;
                }
                continue;
            }
            if ch == '\n' {
                if self.chars > 0 {
                    self.buf.push('\n');
                }
                self.space = false;
                continue;
            }
            if self.brs > 0 {
                self.buf.push('\n');
                self.brs = 0;
                self.space = false;
            } else if self.space {
                self.buf.push(' ');
                self.space = false;
            }
            self.buf.push(ch);
            self.chars += 1;
            if link {
                self.link_chars += 1;
            }
        }
    }

    fn br(&mut self) {
        if self.chars == 0 {
            return;
        }
        self.brs += 1;
        if self.brs >= 2 {
            let tag = self.tag;
            self.flush();
            self.tag = tag;
        }
    }
}

/// Hints say furniture; a "read-more" or "has-sidebar" wrapper holding most of the body is not,
/// nor is a "more" block of unlinked prose inside the body: the rest of the story after a
/// blog's jump break ("entry-more", "read-more"), where a "more stories" box is links.
pub(crate) fn is_furniture(dom: &Dom, j: usize, root_chars: u32) -> bool {
    let n = &dom.nodes[j];
    if n.flags & F_BOILER == 0 {
        return false;
    }
    let story_like = n.flags & F_COMMENTS == 0
        && !matches!(n.tag, Tag::Aside | Tag::Nav | Tag::Footer | Tag::Header);
    !(story_like && (n.chars * 2 > root_chars || super::content::story_rest(dom, j as u32)))
}

/// Should a container inside the body be dropped as furniture?
fn drop_container(dom: &Dom, j: usize, root_chars: u32) -> bool {
    let n = &dom.nodes[j];
    if n.chars == 0 {
        return !matches!(n.tag, Tag::Br | Tag::Hr | Tag::Img);
    }
    let ld = dom.link_density(j as u32);
    match n.tag {
        Tag::Ul
        | Tag::Ol
        | Tag::Div
        | Tag::Section
        | Tag::Table
        | Tag::Form
        | Tag::Aside
        | Tag::Dl
        | Tag::Header
        | Tag::Footer
        | Tag::Nav
        | Tag::Center
        | Tag::Figure
        | Tag::Other
        | Tag::Article
        | Tag::Details
        | Tag::Li => {
            if n.tag == Tag::Form && n.paras == 0 {
                return true;
            }
            // Prose with many commas is never a link list or a widget (readability's guard).
            if n.chars * 2 > root_chars || n.commas >= 10 {
                return false;
            }
            if ld > 0.5 && !matches!(n.tag, Tag::Other | Tag::Li) {
                return true;
            }
            if n.weight < 0 && ld > 0.2 {
                return true;
            }
            false
        }
        _ => false,
    }
}

pub(crate) fn render(dom: &Dom, roots: &[u32], opts: &Options) -> Rendered {
    let nodes = &dom.nodes;
    let mut w = Writer {
        buf: String::new(),
        paras: Vec::new(),
        start: 0,
        chars: 0,
        link_chars: 0,
        tag: Tag::P,
        space: false,
        brs: 0,
    };
    // Open block elements: (end index, tag).
    let mut open: Vec<(u32, Tag)> = Vec::new();
    for &root in roots {
        let root_chars = nodes[root as usize].chars;
        let end = nodes[root as usize].end as usize;
        let mut j = root as usize;
        while j < end {
            while let Some(&(e, _)) = open.last() {
                if e as usize <= j {
                    open.pop();
                    w.flush();
                    w.tag = open.last().map_or(Tag::P, |o| o.1);
                } else {
                    break;
                }
            }
            let n = &nodes[j];
            if n.tag == Tag::Text {
                if n.flags & F_HIDDEN == 0 {
                    w.text(n.text, n.flags & F_IN_LINK != 0, n.flags & F_IN_PRE != 0);
                }
                j += 1;
                continue;
            }
            let skip = n.tag == Tag::Junk
                || n.flags & F_HIDDEN != 0
                || opts.removed.is_some_and(|b| b[j])
                || (j != root as usize
                    && ((opts.furniture && is_furniture(dom, j, root_chars))
                        || (opts.clean && drop_container(dom, j, root_chars))));
            if skip {
                j = n.end as usize;
                continue;
            }
            match n.tag {
                Tag::Br => w.br(),
                Tag::MathToken => w.space = w.chars > 0,
                Tag::Hr => w.flush(),
                t if t.is_block() => {
                    w.flush();
                    w.tag = t;
                    open.push((n.end, t));
                }
                _ => {}
            }
            j += 1;
        }
        while open.pop().is_some() {}
        w.flush();
    }
    w.flush();
    Rendered {
        buf: w.buf,
        paras: w.paras,
    }
}

/// What to do with one rendered paragraph.
pub(crate) enum Verdict {
    Keep,
    Drop,
    Byline,
}

const BOILER_PREFIXES: &[&str] = &[
    "share",
    "teilen",
    "partager",
    "compartir",
    "condividi",
    "delen",
    "tweet",
    "print",
    "drucken",
    "imprimer",
    "read more",
    "read also",
    "see also",
    "related",
    "more:",
    "weiterlesen",
    "mehr zum thema",
    "lesen sie auch",
    "auch interessant",
    "das könnte sie auch",
    "lire aussi",
    "à lire aussi",
    "voir aussi",
    "leer más",
    "lee también",
    "ver también",
    "leggi anche",
    "advertisement",
    "anzeige",
    "werbung",
    "publicité",
    "publicidad",
    "pubblicità",
    "publicidade",
    "reklama",
    "reklame",
    "advertentie",
    "annons",
    "annonse",
    "mainos",
    "sponsored",
    "newsletter",
    "subscribe",
    "abonnieren",
    "sign up",
    "follow us",
    "folge uns",
    "folgen sie uns",
    "copyright",
    "©",
    "(c)",
    "all rights reserved",
    "alle rechte vorbehalten",
    "tags:",
    "schlagworte",
    "schlagwörter",
    "themen:",
    "kategorie",
    "categories",
    "category:",
    "filed under",
    "posted in",
    "posted by",
    "comments",
    "kommentare",
    "leave a comment",
    "leave a reply",
    "kommentar schreiben",
    "no comments",
    "like this:",
    "gefällt mir",
    "click to share",
    "back to top",
    "nach oben",
    "zurück",
    "previous",
    "next",
    "vorheriger",
    "nächster",
    "startseite",
    "home",
    "loading",
    "you may also like",
    "recommended",
    "most read",
    "most popular",
    "trending",
    "related articles",
    "related posts",
    "ähnliche artikel",
    "weitere artikel",
    "bild:",
    "foto:",
    "photo:",
    "image:",
    "credit:",
    "bildquelle",
    "quelle:",
    "fuente:",
    "source:",
    "email",
    "e-mail",
    "facebook",
    "twitter",
    "whatsapp",
    "linkedin",
    "pinterest",
    "reddit",
    "telegram",
    "xing",
    "mail",
    "drucken",
    "artikel teilen",
    "seite drucken",
    "zum seitenanfang",
    "top of page",
    "sponsored content",
    "cookie",
    "we use cookies",
    "diese website verwendet cookies",
    "wir verwenden cookies",
    "ähnliche beiträge",
    "weitere informationen",
    "kontakt",
    "über den autor",
    "about the author",
    "zur person",
    "quellen",
    "quellenangaben",
    "mehr interessantes",
    "lust auf mehr",
    "das könnte dich auch interessieren",
    "schreibe einen kommentar",
    "deine e-mail-adresse",
    "your email address",
    "join our newsletter",
    "sign up for",
    "melde dich",
    "jetzt abonnieren",
    "lire la suite",
    "en savoir plus",
    "artículos relacionados",
    "noticias relacionadas",
    "te puede interesar",
    "potrebbe interessarti",
    "articoli correlati",
    "zobacz również",
    "czytaj także",
    "czytaj też",
];

const CREDITS: &[&str] = &[
    "Foto:",
    "Fotos:",
    "Photo:",
    "Photos:",
    "Bild:",
    "Image:",
    "Quelle:",
    "Credit:",
    "Credits:",
    "Crédit",
    "Fuente:",
    "Fotografía:",
    "Kuva:",
    "Titelbild",
    "Beitragsbild",
    "Źródło:",
    "Zdjęcie:",
    "(AFP",
    "(REUTERS",
    "(Reuters",
    "(dpa",
    "(AP)",
    "(EFE",
    "Getty Images",
    "/dpa",
    "iStock",
    "Shutterstock",
    "Imago",
    "IMAGO",
];

const BYLINE_PREFIXES: &[&str] = &[
    "by ",
    "von ",
    "par ",
    "por ",
    "di ",
    "door ",
    "av ",
    "af ",
    "autor:",
    "autorin:",
    "author:",
    "text:",
    "von:",
    "written by",
    "posted by",
    "geschrieben von",
    "redacción",
    "texte:",
    "de ",
];

/// Words a dateline is made of besides numbers: months, weekdays, "updated", "Uhr"...
const DATE_WORDS: &[&str] = &[
    "jan",
    "january",
    "januar",
    "janvier",
    "enero",
    "gennaio",
    "janeiro",
    "feb",
    "february",
    "februar",
    "février",
    "febrero",
    "febbraio",
    "fevereiro",
    "mar",
    "march",
    "märz",
    "mars",
    "marzo",
    "março",
    "apr",
    "april",
    "avril",
    "abril",
    "aprile",
    "may",
    "mai",
    "mayo",
    "maggio",
    "maio",
    "jun",
    "june",
    "juni",
    "juin",
    "junio",
    "giugno",
    "junho",
    "jul",
    "july",
    "juli",
    "juillet",
    "julio",
    "luglio",
    "julho",
    "aug",
    "august",
    "août",
    "agosto",
    "sep",
    "sept",
    "september",
    "septembre",
    "septiembre",
    "settembre",
    "setembro",
    "oct",
    "october",
    "oktober",
    "octobre",
    "octubre",
    "ottobre",
    "outubro",
    "nov",
    "november",
    "novembre",
    "noviembre",
    "novembro",
    "dec",
    "december",
    "dezember",
    "décembre",
    "diciembre",
    "dicembre",
    "dezembro",
    "mon",
    "monday",
    "montag",
    "tue",
    "tuesday",
    "dienstag",
    "wed",
    "wednesday",
    "mittwoch",
    "thu",
    "thursday",
    "donnerstag",
    "fri",
    "friday",
    "freitag",
    "sat",
    "saturday",
    "samstag",
    "sun",
    "sunday",
    "sonntag",
    "am",
    "pm",
    "um",
    "uhr",
    "h",
    "at",
    "on",
    "the",
    "of",
    "de",
    "del",
    "le",
    "el",
    "du",
    "mez",
    "cet",
    "cest",
    "utc",
    "gmt",
    "est",
    "edt",
    "pst",
    "pdt",
    "bst",
    "published",
    "updated",
    "posted",
    "veröffentlicht",
    "aktualisiert",
    "stand",
    "publié",
    "mis",
    "à",
    "jour",
    "publicado",
    "actualizado",
    "pubblicato",
    "aggiornato",
    "last",
    "modified",
    "zuletzt",
    "geändert",
    "letzte",
    "änderung",
    "datum",
    "date",
    "fecha",
    "veröffentlichung",
    "erstellt",
    "erschienen",
    "publication",
    "min",
    "read",
    "lesezeit",
    "minuten",
    "minutes",
    "ago",
    "vor",
    "stunden",
    "hours",
    "und",
    "and",
];

/// "March 3, 2024 10:15", "Updated: 03.03.2024", "Mo, 3. März 2024 um 10:15 Uhr".
fn is_dateline(t: &str, chars: u32) -> bool {
    if chars > 60 {
        return false;
    }
    let mut digits = 0;
    let mut year_or_time = false;
    let mut other = 0;
    for tok in t
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if tok.bytes().all(|b| b.is_ascii_digit()) {
            digits += tok.len();
            year_or_time |= tok.len() == 4 && (tok.starts_with("19") || tok.starts_with("20"));
            continue;
        }
        let lower = tok.to_lowercase();
        if !DATE_WORDS.contains(&lower.as_str()) {
            other += 1;
        }
    }
    year_or_time |= t.contains(':') && digits >= 3;
    year_or_time |= t.matches('.').count() >= 2 && digits >= 4;
    digits >= 2 && year_or_time && other == 0 && !t.starts_with('+')
}

/// Lines that open the furniture after a story: related links, comments, author boxes.
const STORY_END: &[&str] = &[
    "related",
    "read more",
    "read also",
    "see also",
    "you may also like",
    "more from",
    "recommended",
    "comments",
    "leave a reply",
    "leave a comment",
    "about the author",
    "ähnliche beiträge",
    "ähnliche artikel",
    "weitere artikel",
    "mehr zum thema",
    "lesen sie auch",
    "auch interessant",
    "das könnte sie auch",
    "das könnte dich auch",
    "kommentare",
    "schreibe einen kommentar",
    "über den autor",
    "lire aussi",
    "à lire aussi",
    "voir aussi",
    "leer más",
    "lee también",
    "te puede interesar",
    "noticias relacionadas",
    "artículos relacionados",
    "leggi anche",
    "articoli correlati",
    "zobacz również",
    "czytaj także",
    "czytaj więcej",
    "polecamy",
    "more stories",
    "more on this",
    "further reading",
    "keep reading",
    "you might also like",
    "if you enjoyed",
    "most read",
    "most popular",
    "zum weiterlesen",
    "weiterführende",
    "weiterführender link",
    "editors’ recommendations",
    "editors' recommendations",
    "editors’ picks",
    "editors' picks",
    "weiterlesen",
    "mehr themen",
    "mehr zu",
    "weitere themen",
    "weitere aktuelle",
    "entdecke weitere",
    "entdecken sie weitere",
    "schon gelesen",
    "das thema könnte",
    "das könnte ihnen auch",
    "meistgelesen",
    "wie bewerten sie",
    "artikel teilen",
    "möchten sie den artikel",
    "sur le même sujet",
    "à lire également",
    "más noticias",
    "sigue leyendo",
    "también te puede interesar",
    "next article",
    "previous article",
    "nächster artikel",
    "vorheriger artikel",
    "vorschau auf den nächsten",
    "article suivant",
    "article précédent",
    "while you are here",
    "while you're here",
    "before you go",
];

/// Does this (dropped) line announce the end of the story?
pub(crate) fn ends_story(text: &str) -> bool {
    if is_post_footer(text) || about_someone(text) {
        return true;
    }
    if text.chars().count() > 50 {
        return false;
    }
    // "Related: Chicago is America's most segregated city" is a link set into the story, which
    // goes on after it; a section's opening line names no story.
    if text
        .split_once(':')
        .is_some_and(|(_, rest)| rest.split_whitespace().count() >= 3)
    {
        return false;
    }
    let lower = text.to_lowercase();
    let l = lower.trim_start_matches(|c: char| !c.is_alphanumeric());
    STORY_END.iter().any(|p| starts_word(l, p))
        || STORY_END_WITHIN.iter().any(|p| at_word(l, p, false))
}

/// A blog engine's line under the post ("This entry was posted in News and tagged ... Bookmark
/// the permalink."): categories, tags and a link, never story; what follows is the author box.
pub(crate) fn is_post_footer(text: &str) -> bool {
    const OPENINGS: &[&str] = &[
        "this entry was posted",
        "this entry was filed",
        "dieser eintrag wurde",
        "cette entrée a été publiée",
        "esta entrada fue publicada",
        "questo articolo è stato pubblicato",
    ];
    // Called on every line: compare the opening in place instead of lower-casing the line.
    text.len() < 600
        && text.chars().count() < 300
        && OPENINGS.iter().any(|o| {
            text.get(..o.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(o))
        })
}

/// The heading of an author box: "About Jane Roe", "Über Simon Dückert" (two or three
/// capitalised words after the preposition, nothing else).
fn about_someone(text: &str) -> bool {
    let mut words = text.split_whitespace();
    if text.len() > 80 || !matches!(words.next(), Some("About" | "Über" | "Sobre")) {
        return false;
    }
    let mut names = 0;
    words.all(|w| {
        names += 1;
        w.starts_with(char::is_uppercase)
            && w.chars().all(|c| c.is_alphabetic() || c == '-' || c == '.')
    }) && (2..=3).contains(&names)
}

/// Phrases that open the furniture wherever they stand in its first line ("Diese Artikel
/// könnten euch auch interessieren:", "Stories you may also like").
const STORY_END_WITHIN: &[&str] = &[
    "auch interessieren",
    "may also like",
    "might also like",
    "also be interested",
    "pourrait aussi vous",
    "pourraient aussi vous",
    "pourrait également vous",
    "también te puede",
    "también le puede",
];

/// Words of the calls to action that close many stories: follow us, get the app, subscribe,
/// log in to comment, support our work. Matched at the start of a word; the short ones (`app`,
/// `ios`) whole.
const PROMO: &[&str] = &[
    "twitter",
    "instagram",
    "facebook",
    "telegram",
    "youtube",
    "whatsapp",
    "newsletter",
    "subscri",
    "suscri",
    "abonn",
    "inscri",
    "download",
    "kommentar",
    "eingeloggt",
    "log in",
    "sign up",
    "registri",
    "melde dich",
    "síguenos",
    "siguenos",
    "follow",
    "join",
    "únete",
    // Appeals for readers' money.
    "support our",
    "supporting our",
    "support us",
    "donate now",
    "make a donation",
    "become a member",
    "paywall",
    "unterstützen sie",
    "unterstütze uns",
    "unterstütze unser",
    "deine unterstützung",
    "ihre unterstützung",
    "ihre spende",
    "jede spende",
    "bezahlschranke",
    "hazte miembro",
    "hazte socio",
    "soutenez",
];
const PROMO_WORDS: &[&str] = &["app", "apps", "ios", "android"];

/// Is this short line a call to action rather than story? Two promo words, or one in a line
/// of at most 120 characters ("¡Mira lo que tiene nuestro canal de YouTube!").
pub(crate) fn is_promo(text: &str) -> bool {
    let n = text.chars().count();
    if n >= 250 {
        return false;
    }
    let lower = text.to_lowercase();
    let hits = PROMO.iter().filter(|w| at_word(&lower, w, false)).count()
        + PROMO_WORDS
            .iter()
            .filter(|w| at_word(&lower, w, true))
            .count();
    hits >= 2 || (hits == 1 && n <= 120)
}

/// Is this short line an affiliate or advertising disclosure ("Für Links auf dieser Seite
/// erhält ... eine Provision", "We may receive compensation from our advertisers")? It needs
/// both a word about links or ads and a word about payment or disclaiming.
pub(crate) fn is_disclosure(text: &str) -> bool {
    if text.chars().count() >= 300 {
        return false;
    }
    let lower = text.to_lowercase();
    let ads = ["link", "advertis", "werbe", "anzeige"]
        .iter()
        .any(|w| at_word(&lower, w, false));
    ads && [
        "affiliate",
        "provision",
        "compensation",
        "commission",
        "disclaimer",
        "disclosure",
    ]
    .iter()
    .any(|w| at_word(&lower, w, false))
}

/// Words that make "Jane Doe is ..." an author's note rather than story.
const AUTHOR_ROLES: &[&str] = &[
    "editor",
    "reporter",
    "writer",
    "journalist",
    "correspondent",
    "columnist",
    "blogger",
    "founder",
    "consultant",
    "writes",
    "head of",
    "autor",
    "redakteur",
    "gründer",
    "schreibt",
    "fotograf",
];

/// Is this an author's note ("Jane Doe is a reporter covering ...", "Die Autorin ist ...")?
/// One to three capitalised words, then "is"/"ist"/"est"/"es"/"was"/"war", and a role word.
pub(crate) fn is_author_note(text: &str) -> bool {
    if text.chars().count() >= 500 {
        return false;
    }
    let mut words = text.split_whitespace();
    let mut names = 0;
    let verb = loop {
        let Some(w) = words.next() else { return false };
        if names >= 1 && matches!(w, "is" | "ist" | "est" | "es" | "was" | "war") {
            break true;
        }
        if names == 3 || !w.starts_with(|c: char| c.is_uppercase()) {
            break false;
        }
        names += 1;
    };
    let lower = text.to_lowercase();
    verb && AUTHOR_ROLES.iter().any(|r| at_word(&lower, r, false))
}

/// Does `w` occur in `s` at the start of a word (and, if `whole`, as a whole word)?
fn at_word(s: &str, w: &str, whole: bool) -> bool {
    s.match_indices(w).any(|(i, _)| {
        s[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
            && (!whole
                || s[i + w.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_alphanumeric()))
    })
}

/// `s` starts with the phrase `w` as whole words ("mail" is not the start of "Mailand").
fn starts_word(s: &str, w: &str) -> bool {
    s.starts_with(w)
        && s[w.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric())
}

/// A story's first paragraph under a news agency's dateline ("BERLIN (dpa) - The government
/// ...", "(EFE).- Nicaragua ..."): the agency's name opens it and a story follows, where in a
/// credit line it is the end, or all there is.
fn wire_dateline_lead(text: &str) -> bool {
    let Some(open) = text.find('(') else {
        return false;
    };
    let Some(close) = text[open..].find(')').map(|k| open + k) else {
        return false;
    };
    let agency = &text[open + 1..close];
    open <= 40
        && WIRE_AGENCIES.iter().any(|a| agency.starts_with(a))
        && text[close + 1..].split_whitespace().count() >= 15
}

/// News agencies as they sign a dateline.
const WIRE_AGENCIES: &[&str] = &[
    "AFP", "REUTERS", "Reuters", "dpa", "AP", "EFE", "KNA", "epd",
];

/// Link-only lines, credits, bylines, datelines and short boilerplate phrases are not body text.
pub(crate) fn judge(text: &str, p: &Para) -> Verdict {
    let ld = if p.chars == 0 {
        0.0
    } else {
        p.link_chars as f32 / p.chars as f32
    };
    // A bare URL or address written out as a link is content ("see https://..."), not a link list.
    let literal = text.contains("://") || text.starts_with("www.") || text.contains('@');
    // A list item that is a whole linked sentence ("Marionette is now Fission compatible
    // too!") is the story's own list; headlines of other stories end without a full stop.
    let sentence = p.tag == Tag::Li
        && text.split_whitespace().count() >= 6
        && text.trim_end().ends_with(['.', '!', '?']);
    if p.chars < 200 && ld > 0.7 && !p.tag.is_heading() && !literal && !sentence {
        return Verdict::Drop;
    }
    if is_post_footer(text) {
        return Verdict::Drop;
    }
    // Image credits and copyright lines: "Jane Doe, 2024 © AFP", "(Foto: dpa)".
    if p.chars < 300
        && (text.contains('©') || CREDITS.iter().any(|c| text.contains(c)))
        && !wire_dateline_lead(text)
    {
        return Verdict::Drop;
    }
    if p.chars <= 80 {
        // "Category : News" is "Category: News" in a French-spaced template.
        let lower = text.to_lowercase().replacen(" :", ":", 1);
        let l = lower.trim_start_matches(|c: char| !c.is_alphanumeric() && c != '©' && c != '(');
        if BYLINE_PREFIXES.iter().any(|b| l.starts_with(b)) && text.split_whitespace().count() <= 10
        {
            return Verdict::Byline;
        }
        if p.chars <= 50 && BOILER_PREFIXES.iter().any(|b| starts_word(l, b)) {
            return Verdict::Drop;
        }
        if is_dateline(text, p.chars) {
            return Verdict::Drop;
        }
    }
    Verdict::Keep
}
