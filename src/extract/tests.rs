//! Unit tests: extraction behaviour on small hand-written pages, and robustness on hostile input.

use super::*;

fn run(html: &str) -> Extracted {
    let doc = scraper::Html::parse_document(html);
    extract(&doc, None, None)
}

fn run_at(html: &str, url: &str) -> Extracted {
    let doc = scraper::Html::parse_document(html);
    let u = url::Url::parse(url).unwrap();
    extract(&doc, Some(&u), None)
}

const STORY: &str = "The council voted on Tuesday to expand the city's bicycle network, adding forty \
kilometres of protected lanes over the next three years, according to officials.";
const STORY2: &str = "Supporters said the plan would make streets safer for children, while critics \
argued that the money, roughly twelve million euros, should go to buses instead.";
const STORY3: &str = "Construction is expected to start in the spring, and the first stretch, along \
the river, should open before the end of next year, the mayor said.";

fn article_page() -> String {
    format!(
        r##"<!doctype html><html lang="en-us"><head>
<title>City expands bike lanes - The Daily Bar</title>
<meta property="og:site_name" content="The Daily Bar">
<meta name="author" content="Jane Roe">
<link rel="canonical" href="/news/bike-lanes?x=1">
<script type="application/ld+json">{{"@context":"https://schema.org","@type":"NewsArticle",
 "author":[{{"@type":"Person","name":"John Doe"}},{{"@type":"Person","name":"Jane Roe"}}]}}</script>
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<header class="site-header"><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav></header>
<main><article>
<h1>City expands bike lanes</h1>
<p class="byline">By Jane Roe and Max Mustermann</p>
<p class="dateline">March 3, 2024 10:15</p>
<div class="share-bar"><a href="#">Share on Facebook</a> <a href="#">Tweet</a></div>
<div class="article-body">
<p>{STORY}</p>
<h2>Money and safety</h2>
<p>{STORY2}</p>
<ul><li>Forty kilometres of new protected lanes in total</li><li>Twelve million euros over three years</li></ul>
<blockquote><p>"This is the biggest change to our streets in a generation," the mayor said at the meeting.</p></blockquote>
<p>{STORY3}</p>
</div>
<div class="newsletter-signup"><h3>Get our newsletter</h3><p>Sign up for the morning briefing, delivered daily.</p></div>
<section class="related-articles"><h3>Related</h3><ul>
<li><a href="/a">Bus fares to rise in the autumn, the transport authority says</a></li>
<li><a href="/b">New bridge opens after five years of work on the river crossing</a></li>
<li><a href="/c">Parking charges will double in the city centre from next month</a></li></ul></section>
</article>
<section id="comments" class="comments"><h3>Comments</h3>
<div class="comment"><p>Great news, finally, I have been waiting for this for years, and so has my family.</p></div>
<div class="comment"><p>What a waste of money, the buses are full, and nobody asked us, as usual.</p></div>
</section></main>
<footer class="site-footer"><p>© 2024 The Daily Bar. All rights reserved.</p><a href="/privacy">Privacy</a></footer>
</body></html>"##
    )
}

#[test]
fn extracts_article_body_and_drops_furniture() {
    let e = run(&article_page());
    let b = &e.body_text;
    for want in [
        STORY,
        STORY2,
        STORY3,
        "Money and safety",
        "Forty kilometres of new protected lanes",
        "biggest change to our streets",
    ] {
        assert!(b.contains(want), "missing {want:?} in {b:?}");
    }
    for unwanted in [
        "cookies",
        "Home",
        "Share on Facebook",
        "Tweet",
        "newsletter",
        "Bus fares",
        "Great news",
        "waste of money",
        "All rights reserved",
        "By Jane Roe",
        "March 3, 2024",
    ] {
        assert!(!b.contains(unwanted), "kept {unwanted:?} in {b:?}");
    }
    // Paragraphs are separated by one blank line, in document order.
    let paras: Vec<&str> = b.split("\n\n").collect();
    assert_eq!(paras.first().copied(), Some(STORY));
    assert!(!b.contains("\n\n\n"));
}

#[test]
fn metadata() {
    let e = run_at(&article_page(), "https://example.org/news/bike-lanes");
    assert_eq!(e.title, "City expands bike lanes");
    assert_eq!(e.language.as_deref(), Some("en-US"));
    assert_eq!(
        e.canonical_url.as_deref(),
        Some("https://example.org/news/bike-lanes?x=1")
    );
    // The visible byline wins over the JSON-LD author list (see docs/extraction.md).
    assert_eq!(e.authors, ["Jane Roe", "Max Mustermann"]);
    let no_byline =
        article_page().replace("<p class=\"byline\">By Jane Roe and Max Mustermann</p>", "");
    assert_eq!(run(&no_byline).authors, ["John Doe", "Jane Roe"]);
}

#[test]
fn title_drops_site_name() {
    let page = "<html><head><title>Foo - The Daily Bar</title></head><body><p>x</p></body></html>";
    assert_eq!(run(page).title, "Foo");
    let page = "<html><head><title>The Daily Bar | Storm hits the coast overnight</title>\
        <meta property='og:site_name' content='The Daily Bar'></head><body></body></html>";
    assert_eq!(run(page).title, "Storm hits the coast overnight");
}

#[test]
fn canonical_falls_back_to_og_url_and_rejects_other_schemes() {
    let page = r#"<html><head><meta property="og:url" content="https://example.com/a"></head><body></body></html>"#;
    assert_eq!(
        run(page).canonical_url.as_deref(),
        Some("https://example.com/a")
    );
    let page = r#"<html><head><link rel="canonical" href="javascript:alert(1)"></head><body></body></html>"#;
    assert_eq!(run_at(page, "https://example.com/x").canonical_url, None);
    let page = r#"<html><head><link rel="canonical" href="/relative"></head><body></body></html>"#;
    assert_eq!(
        run(page).canonical_url,
        None,
        "relative without a page URL cannot be resolved"
    );
}

#[test]
fn language_declared_and_guessed() {
    let page =
        r#"<html><head><meta property="og:locale" content="de_DE"></head><body></body></html>"#;
    assert_eq!(run(page).language.as_deref(), Some("de-DE"));
    let de = "Die Stadt hat am Dienstag beschlossen, dass das Netz der Radwege ausgebaut wird. \
        Es ist nicht klar, ob die Kosten auch von den Bürgern getragen werden, und die Opposition ist dagegen. ";
    let page =
        format!("<html><body><article><p>{de}</p><p>{de}</p><p>{de}</p></article></body></html>");
    assert_eq!(run(&page).language.as_deref(), Some("de"));
    let ko = "서울시는 화요일에 자전거 도로망을 확장하기로 결정했다고 밝혔다. 시민들은 대체로 환영하는 분위기다. ";
    let page =
        format!("<html><body><article><p>{ko}{ko}</p><p>{ko}{ko}</p></article></body></html>");
    assert_eq!(run(&page).language.as_deref(), Some("ko"));
    assert_eq!(run("<html><body><p>12345</p></body></html>").language, None);
}

#[test]
fn front_page_and_stubs_have_empty_body() {
    let mut page = String::from("<html><body><nav><a href='/'>Home</a></nav><main>");
    for i in 0..30 {
        page.push_str(&format!("<div class='teaser'><h2><a href='/story/{i}'>Headline number {i} about something that happened</a></h2></div>"));
    }
    page.push_str("</main><footer>© Site</footer></body></html>");
    assert_eq!(run(&page).body_text, "", "front page");
    let e404 = "<html><head><title>Page not found</title></head><body><nav><a href='/'>Home</a> <a href='/news'>News</a></nav>\
        <h1>404</h1><p>Sorry, the page you requested could not be found.</p><footer>© Site</footer></body></html>";
    assert_eq!(run(e404).body_text, "");
    let login = "<html><body><div class='login'><h1>Sign in to continue reading</h1><form><input name=u><input name=p type=password>\
        <button>Log in</button></form><p>Subscribe for full access.</p></div></body></html>";
    assert_eq!(run(login).body_text, "");
}

#[test]
fn site_rule_selects_and_removes() {
    let page = format!(
        "<html><body><div class='x-main'><p>{STORY}</p><div class='x-promo'><p>{STORY2}</p></div><p>{STORY3}</p></div>\
         <div class='other'><p>Unrelated text that the rule does not select, with commas, many of them, here.</p></div></body></html>"
    );
    let rule = SiteRule {
        body: vec![".x-main".into()],
        remove: vec![".x-promo".into(), "p:::bad".into()],
    };
    let doc = scraper::Html::parse_document(&page);
    let e = extract(&doc, None, Some(&rule));
    assert_eq!(e.body_text, format!("{STORY}\n\n{STORY3}"));
    let err = validate_rule(&rule).unwrap_err();
    assert!(err.contains("p:::bad"), "{err}");
    assert!(
        validate_rule(&SiteRule {
            body: vec!["article .body > p".into()],
            remove: vec![]
        })
        .is_ok()
    );
    // A rule whose selectors match nothing falls back to detection.
    let miss = SiteRule {
        body: vec![".nothing".into()],
        remove: vec![],
    };
    assert!(extract(&doc, None, Some(&miss)).body_text.contains(STORY));
}

#[test]
fn site_rule_deserializes_with_defaults() {
    let r: SiteRule = serde_json::from_str(r#"{"body": ["article"]}"#).unwrap();
    assert_eq!(
        r,
        SiteRule {
            body: vec!["article".into()],
            remove: vec![]
        }
    );
}

#[test]
fn word_count_rules() {
    assert_eq!(word_count(""), 0);
    assert_eq!(
        word_count("Hello, world! It's a well-known fact — 3.5 times."),
        8
    );
    assert_eq!(word_count("東京は晴れ"), 5);
    assert_eq!(word_count("서울시는 화요일에 결정했다"), 3);
    assert_eq!(word_count("Apple 发布了 iPhone"), 5);
}

#[test]
fn inline_markup_joins_without_spaces_and_br_breaks_lines() {
    let page = format!(
        "<html><body><article><p>Hel<b>lo</b> wor<i>ld</i>, {STORY}<br>second line</p><p>{STORY2}</p><p>{STORY3}</p></article></body></html>"
    );
    let b = run(&page).body_text;
    assert!(b.starts_with("Hello world, The council"), "{b}");
    assert!(b.contains("according to officials.\nsecond line"), "{b}");
}

#[test]
fn deeply_nested_elements_do_not_overflow() {
    // 100,000 nested inline elements (html5ever keeps these nested; deep <div>s are slow to parse
    // in html5ever itself, which is the caller's size cap to bound).
    let n = 100_000;
    let mut page = String::with_capacity(n * 14 + 200);
    page.push_str("<html><body><article>");
    for _ in 0..n {
        page.push_str("<span>");
    }
    page.push_str(STORY);
    for _ in 0..n {
        page.push_str("</span>");
    }
    page.push_str("</article></body></html>");
    let doc = scraper::Html::parse_document(&page);
    let e = extract(&doc, None, None);
    assert!(e.body_text.contains("bicycle network"));
    // Deep block nesting, built directly at a depth html5ever parses quickly.
    let mut page = String::from("<html><body>");
    for _ in 0..3000 {
        page.push_str("<div><section>");
    }
    page.push_str(&format!("<p>{STORY}</p><p>{STORY2}</p>"));
    let doc = scraper::Html::parse_document(&page);
    let e = extract(&doc, None, None);
    assert!(e.body_text.contains("protected lanes"));
}

#[test]
fn ten_megabyte_page() {
    let mut page = String::from(
        "<html><head><title>Big</title></head><body><nav><a href='/'>Home</a></nav><article>",
    );
    while page.len() < 10 * 1024 * 1024 {
        page.push_str("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor, <a href='#'>link</a>, and more.</p>\n");
    }
    page.push_str("</article></body></html>");
    let doc = scraper::Html::parse_document(&page);
    let e = extract(&doc, None, None);
    assert!(e.body_text.len() > 5 * 1024 * 1024);
    assert!(
        e.body_text.len() < 3 * page.len(),
        "output bounded by input"
    );
}

#[test]
fn malformed_binary_and_empty_input() {
    let cases: Vec<String> = vec![
        String::new(),
        " ".into(),
        "<".into(),
        "<html><body>".into(),
        "<html><head><title>Only a title</title></head></html>".into(),
        "<p>unclosed <b>bold <i>italic <table><tr><td>cell</p></b> text".into(),
        "<html><body><article><p>a</article></p></div></div></body><p>after body</p></html><p>after html".into(),
        "<script>while(1){}</script><style>p{}</style><!-- comment --><![CDATA[x]]>".into(),
        "<html><body><svg><p>in svg</p></svg><math><mi>x</mi></math><template><p>t</p></template></body></html>".into(),
        "<meta charset=utf-8><p hidden>hidden</p><p style='display:none'>gone</p><p aria-hidden=true>aria</p>".into(),
        "<html><head><script type='application/ld+json'>{not json]]</script><script type='application/ld+json'>[[[[[[1]]]]]]</script></head></html>".into(),
        "<link rel=canonical href='http://[::1'><meta property=og:url content='::::'>".into(),
        "<html lang='!!'><meta http-equiv=content-language content='x-klingon-but-too-long-subtag'>".into(),
    ];
    for c in &cases {
        let e = run(c);
        assert!(e.body_text.len() <= c.len() + 16, "{c:?} -> {e:?}");
    }
    // Binary junk: deterministic pseudo-random bytes, decoded lossily as a caller would.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..1_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    let _ = run(&text);
    let hidden = run(
        "<html><body><article><p hidden>hidden</p><p style='display: none'>gone</p><p>visible</p></article></body></html>",
    );
    assert!(
        !hidden.body_text.contains("hidden") && !hidden.body_text.contains("gone"),
        "{hidden:?}"
    );
}

#[test]
fn tiny_clean_page_is_its_own_body() {
    let e = run(
        "<html><body><p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p></body></html>",
    );
    assert_eq!(
        e.body_text,
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    );
}

#[test]
fn lede_before_body_container_is_kept_and_orphan_heading_dropped() {
    let page = format!(
        "<html><body><main><div class='news-single'>\
         <div class='teaser-text'><p>The city will double its bike network by 2030, officials said on Tuesday, in a plan costing millions.</p></div>\
         <div class='news-text-wrap'><p>{STORY}</p><p>{STORY2}</p><p>{STORY2}</p><p>{STORY3}</p>\
         <h3>More from our newsroom</h3><ul class='related-list'><li><a href='/x'>Another story entirely</a></li></ul></div>\
         </div></main></body></html>"
    );
    let b = run(&page).body_text;
    assert!(
        b.starts_with("The city will double its bike network"),
        "{b}"
    );
    assert!(b.ends_with(STORY3), "{b}");
}

#[test]
fn calls_to_action_disclosures_and_author_notes_are_recognised() {
    assert!(render::is_promo(
        "Follow The Gazette on Twitter and Instagram @gazette."
    ));
    assert!(render::is_promo(
        "¡Mira lo que tiene nuestro canal de YouTube!"
    ));
    assert!(render::is_promo(
        "If you enjoyed reading this post, would you consider supporting our work? Thanks!"
    ));
    assert!(render::is_promo(
        "Wenn Ihnen unser Artikel gefallen hat: Unterstützen Sie diese Form des Journalismus."
    ));
    assert!(!render::is_promo(STORY));
    assert!(!render::is_promo(
        "Officials declined to comment on the apparent contradiction."
    ));
    assert!(!render::is_promo(
        "The city will support families who lose their homes, the mayor said."
    ));
    assert!(render::is_disclosure(
        "This post contains links to products from our advertisers. We may receive compensation."
    ));
    assert!(!render::is_disclosure(
        "The paper describes vibration-induced error compensation for 3D printers."
    ));
    assert!(render::is_author_note(
        "Jane Roe is a reporter covering city hall."
    ));
    assert!(!render::is_author_note(
        "The mayor is expected to sign the bill on Friday."
    ));
}

#[test]
fn closing_call_to_action_is_cut() {
    let html = format!(
        "<html><body><article><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p>\
         <p>Get the latest stories straight to your phone: download our app for iOS and Android.</p></article></body></html>"
    );
    let body = run(&html).body_text;
    assert!(body.contains("the mayor said."), "{body}");
    assert!(!body.contains("download our app"), "{body}");
}

#[test]
fn byline_roles_are_not_authors() {
    let mut authors = Vec::new();
    for raw in [
        "By Theo Brannigan, City Hall reporter",
        "Jane Doe and Ravi Patel, staff writers",
        "Mara Quell, Reuters",
    ] {
        authors.extend(super::clean_byline(raw));
    }
    assert_eq!(
        authors,
        [
            "Theo Brannigan",
            "Jane Doe",
            "Ravi Patel",
            "Mara Quell",
            "Reuters"
        ]
    );
}

#[test]
fn classed_inline_elements_between_words_are_kept() {
    // MathJax wraps each formula in a span-like element whose class names its context menu.
    let html = format!(
        r#"<html><body><article><p>{STORY}</p>
<div>When <mjx-container class="MathJax CtxtMenu_Attached_0"><math><mi>a</mi><mo>≠</mo><mn>0</mn></math></mjx-container>, there are two solutions, and the council's engineers said both were tested.</div>
<p>{STORY2}</p><div class="menu"><a href="/">Home</a> Archive of all older stories and sections</div>
</article></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(
        body.contains("When a ≠ 0, there are two solutions"),
        "{body}"
    );
    assert!(!body.contains("Archive of all"), "{body}");
}

// Short articles next to longer blocks: the page's own signals (headline, marked body,
// comment-section markup) decide, not length. Pages written from common blog-engine markup.

/// Reader comments: long, comma-rich prose, as a comment thread under a short post is.
fn comment_thread(n: usize) -> String {
    let mut s = String::new();
    for k in 0..n {
        s.push_str(&format!(
            "<li class=\"comment\" id=\"comment-{k}\"><div class=\"comment-author\">Reader {k}</div>\
<div class=\"comment-text\"><p>Congratulations, what lovely news, and thank you for sharing it with all of \
us, since I have followed this blog for years, read every post, and I hope the family is well, rested \
and happy, and that you will keep writing, now and later, whenever there is time for it.</p></div></li>"
        ));
    }
    s
}

const SHORT_POST: &str = "The new bakery on Mill Street opens on Saturday, and the first hundred \
customers get a free loaf.";

#[test]
fn short_post_is_not_replaced_by_its_comments() {
    let html = format!(
        r#"<html><head><title>Bakery opens Saturday | Town Notes</title></head><body>
<div id="header"><a href="/">Town Notes</a></div>
<div id="content"><div class="post" id="post-12">
<h2><a href="/2024/bakery">Bakery opens Saturday</a></h2>
<div class="post-content"><p>{SHORT_POST}</p></div>
<div class="entrymeta"><a href="/feed">Comments feed</a></div>
<h3 id="comments">40 Responses to "Bakery opens Saturday"</h3>
<ol class="commentlist">{}</ol>
</div></div></body></html>"#,
        comment_thread(40)
    );
    let body = run(&html).body_text;
    assert!(body.contains(SHORT_POST), "{body}");
    assert!(!body.contains("Congratulations"), "{body}");
}

#[test]
fn short_post_in_a_widget_frame_beats_the_sidebar_profile() {
    // Blog engines wrap the posts in a "widget" block, like the sidebar boxes beside them.
    let about = "I write about small towns, their shops, their schools, their councils and their \
people, and I have done so for twelve years, in print, on the radio, and here, on this blog, \
which started as a hobby, became a habit, and is now read by a few thousand people every day.";
    let html = format!(
        r#"<html><head><title>Town Notes: Bakery opens Saturday</title></head><body>
<div class="main section" id="main"><div class="widget Blog" id="Blog1"><div class="blog-posts hfeed">
<div class="post hentry"><h3 class="post-title entry-title">Bakery opens Saturday</h3>
<div class="post-body entry-content">{SHORT_POST}<br><br>Bring your own bag.</div>
<div class="post-footer">Posted by Ann at 9:12 AM</div></div></div></div></div>
<div class="sidebar section"><div class="widget Profile" id="Profile1"><h2>About me</h2>
<dl class="profile-datablock"><dd class="profile-textblock">{about}</dd></dl></div></div>
</body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains(SHORT_POST), "{body}");
    assert!(!body.contains("small towns"), "{body}");
}

#[test]
fn post_classes_naming_categories_and_tags_are_not_furniture() {
    // WordPress's post_class(): "category-…" and "tag-…" are the post's words, not a tag cloud.
    let html = format!(
        r#"<html><head><title>Bike lanes: the vote - The Daily Bar</title></head><body>
<div id="content"><h1>Bike lanes: the vote</h1>
<div class="post-7 post type-post status-publish hentry category-city tag-bikes tag-council">
<p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div></div>
<div id="sidebar"><h3>Recent posts</h3><ul>
<li><a href="/a">Bus fares to rise in the autumn, the transport authority says today</a></li>
<li><a href="/b">New bridge opens after five years of work on the river crossing</a></li></ul>
<p>This blog has been covering the city, its council, its streets, its parks and its people since
2009, with news, opinion, photographs and, now and then, a recipe or two.</p>
<p>It is written by volunteers, edited on weekends, paid for by readers, and read, we are told,
in every district, in the schools, in the cafés, and, once, in the council chamber itself.</p>
<p>Letters are welcome, short or long, by post or by mail, and we print most of them, unless they
are rude, anonymous, or about parking, which has its own page, its own editor, and its own fans.</p></div>
</body></html>"#
    );
    let body = run(&html).body_text;
    for want in [STORY, STORY2, STORY3] {
        assert!(body.contains(want), "missing {want:?} in {body:?}");
    }
    assert!(!body.contains("recipe"), "{body}");
}

#[test]
fn very_short_post_under_its_headline_is_kept() {
    let html = r#"<html><head><title>Closed today</title></head><body>
<nav><a href="/">Home</a> <a href="/archive">Archive</a> <a href="/about">About</a></nav>
<article><h1>Closed today</h1><div class="entry-content"><p>The library is closed today for repairs.</p></div></article>
<footer><p>Copyright 2024 The Town Library, all rights reserved. Opening hours, addresses, phone
numbers and the accessibility statement are on the contact page, with directions.</p></footer>
</body></html>"#;
    assert_eq!(
        run(html).body_text,
        "The library is closed today for repairs."
    );
}

#[test]
fn story_continues_past_the_jump_break() {
    // "Continue reading": the rest of the post sits in a sibling named like a read-more box.
    let rest = "The rest of the meeting, which ran late into the evening, dealt with the budget, \
the school buses, the new library hours, and a long, heated, and in the end inconclusive debate \
about parking on market days, which the council will take up again next month, the chair said.";
    let html = format!(
        r#"<html><head><title>Council meets</title></head><body><div class="entry">
<h3 class="entry-header">Council meets</h3>
<div class="entry-content"><div class="entry-body"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div>
<a id="more"></a><div class="entry-more"><p>{rest}</p></div></div>
<div class="entry-footer"><a href="/c">3 comments</a></div></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains(STORY3), "{body}");
    assert!(body.contains(rest), "{body}");
    assert!(!body.contains("3 comments"), "{body}");
}

#[test]
fn the_standfirst_between_headline_and_body_is_kept() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<nav><a href="/">Home</a></nav>
<div class="article-header"><h1>City expands bike lanes</h1>
<p class="article-lead">Forty kilometres of protected lanes in three years: the biggest change to the
city's streets since the tram came back.</p></div>
<div class="article-text"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div>
<div class="more"><p class="teaser">Elsewhere: a teaser for another story, with prose enough to pass
for a lead if position did not count.</p></div>
</body></html>"#
    );
    let body = run(&html).body_text;
    assert!(
        body.starts_with("Forty kilometres of protected lanes"),
        "{body}"
    );
    assert!(body.contains(STORY3), "{body}");
    assert!(!body.contains("Elsewhere"), "{body}");
}

/// The hint flags of a `<div>` with this class.
fn class_flags(class: &str) -> u16 {
    let doc = scraper::Html::parse_fragment(&format!(r#"<div class="{class}">x</div>"#));
    let sel = scraper::Selector::parse("div").unwrap();
    let div = doc.select(&sel).next().unwrap();
    hints::classify(div.value(), dom::Tag::Div).flags
}

#[test]
fn a_commentary_is_an_article_not_a_comment_section() {
    assert_eq!(class_flags("page article commentary") & dom::F_COMMENTS, 0);
    assert_ne!(class_flags("comments") & dom::F_COMMENTS, 0);
    // A reblog "with_commentary" is a reader's note, as before.
    assert_ne!(
        class_flags("note reblog with_commentary") & dom::F_COMMENTS,
        0
    );
}

#[test]
fn a_related_link_set_into_the_story_does_not_end_it_and_a_related_heading_does() {
    const LAST: &str = "The first lanes open next month on the river road, the city said.";
    let page = |insert: &str| {
        format!(
            r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p>
<p><a href="/other">{insert}</a></p><p>{LAST}</p></div></body></html>"#
        )
    };
    let body = run(&page("Related: Chicago opens its longest tram line")).body_text;
    assert!(body.ends_with(LAST), "{body}");
    assert!(!body.contains("Chicago"), "{body}");
    // A section's opening line: what follows it is not the story.
    let body = run(&page("Related articles")).body_text;
    assert!(body.ends_with(STORY3), "{body}");
}

#[test]
fn a_linked_sentence_in_the_storys_list_is_kept_and_a_linked_headline_is_not() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p><p>{STORY2}</p>
<ul><li><a href="/plan">The full plan and its maps are now open for comment until May.</a></li>
<li><a href="/other">Mayor unveils new tram map</a></li></ul><p>{STORY3}</p></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains("The full plan and its maps"), "{body}");
    assert!(!body.contains("tram map"), "{body}");
}

#[test]
fn a_furniture_heading_the_renderer_keeps_still_ends_the_story() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p>
<h2>Zum Weiterlesen</h2><p>Die Stadt baut auch neue Parkhäuser für Fahrräder am Bahnhof.</p>
</div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.ends_with(STORY3), "{body}");
}

#[test]
fn a_gallery_beside_the_story_is_furniture() {
    let captions: String = (1..=4)
        .map(|k| format!("<li><h2>{k}/4 Harbor at dawn</h2><p>Boats leave at first light, as every day, with nets, ice and crates.</p></li>"))
        .collect();
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p><p>{STORY2}</p>
<div class="photo-gallery"><ul>{captions}</ul></div><p>{STORY3}</p></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains(STORY3), "{body}");
    assert!(!body.contains("Boats leave"), "{body}");
}

#[test]
fn an_anchor_that_leads_nowhere_around_paragraphs_is_not_a_link() {
    let page = |href: &str| {
        format!(
            r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><a {href}><p>{STORY}</p><p>{STORY2}</p></a>
<p>{STORY3}</p></div></body></html>"#
        )
    };
    for nowhere in [r#"href="javascript:void(0)""#, r#"name="top""#] {
        let body = run(&page(nowhere)).body_text;
        assert!(body.starts_with(STORY), "{nowhere}: {body}");
    }
    // A real link around blocks is a teaser card, as before.
    let body = run(&page(r#"href="/other-story""#)).body_text;
    assert!(!body.contains(STORY), "{body}");
}

#[test]
fn a_displayed_formula_is_part_of_the_story_whatever_its_class() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p><p>{STORY2}</p>
<mjx-container class="MathJax CtxtMenu_Attached_0" display="true"><math display="block">
<mi>x</mi><mo>=</mo><mi>σ</mi><mi>y</mi></math></mjx-container><p>{STORY3}</p></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains("x = σ y"), "{body}");
}

#[test]
fn a_lead_under_a_wire_dateline_is_kept_and_a_wire_credit_is_not() {
    const LEAD: &str = "BERLIN (dpa) - The government agreed on Tuesday to expand the rail network, \
adding new lines in the east over the next ten years, a spokesman said.";
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{LEAD}</p><p>{STORY}</p>
<p>The minister at the station on Monday. (AFP)</p><p>{STORY2}</p><p>{STORY3}</p></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.starts_with(LEAD), "{body}");
    assert!(!body.contains("(AFP)"), "{body}");
}

#[test]
fn a_standfirst_set_as_a_heading_or_in_a_header_block_after_the_headline_is_kept() {
    const LEDE: &str = "Forty kilometres of protected lanes in three years: the biggest change to the \
city's streets since the tram came back.";
    let page = |standfirst: &str| {
        format!(
            r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1>{standfirst}
<div class="article-text"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div></body></html>"#
        )
    };
    for standfirst in [
        format!(r#"<h2 class="article-deck">{LEDE}</h2>"#),
        format!(r#"<h2 class="article-subheadline">{LEDE}</h2>"#),
        format!(r#"<div class="texto-bajada"><p>{LEDE}</p></div>"#),
        format!(r#"<header class="entry-header"><div class="lead"><p>{LEDE}</p></div></header>"#),
    ] {
        let body = run(&page(&standfirst)).body_text;
        assert!(body.starts_with(LEDE), "{standfirst}: {body}");
    }
    // Furniture other than a header is still furniture.
    let credit = format!(r#"<div class="summary-credit"><p>{LEDE}</p></div>"#);
    let body = run(&page(&credit)).body_text;
    assert!(!body.contains("Forty"), "{body}");
}

#[test]
fn the_standfirst_in_the_headlines_header_inside_the_body_is_kept() {
    const LEDE: &str = "Forty kilometres of protected lanes in three years: the biggest change to the \
city's streets since the tram came back.";
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body><nav><a href="/">Home</a></nav>
<article><header class="content-header"><h1>City expands bike lanes</h1>
<div class="share"><a href="/s">Share</a></div><p class="excerpt">{LEDE}</p></header>
<p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></article></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.starts_with(LEDE), "{body}");
    assert!(body.ends_with(STORY3) && !body.contains("Share"), "{body}");
}

#[test]
fn ruby_annotations_are_not_part_of_the_text() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body>
<h1>City expands bike lanes</h1><div class="story"><p>{STORY}</p>
<p><ruby>子<rp>(</rp><rt>こ</rt><rp>)</rp></ruby>どもへの<ruby>虐待<rt>ぎゃくたい</rt></ruby>をなくすための法律ができました。</p>
<p>{STORY2}</p></div></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.contains("子どもへの虐待をなくすための法律"), "{body}");
}

#[test]
fn a_page_that_renders_the_story_by_script_gets_its_json_ld_article_body() {
    let ld = serde_json::json!({
        "@context": "https://schema.org",
        "@graph": [{"@type": "WebPage"}, {"@type": "NewsArticle",
            "articleBody": format!("{STORY}\n{STORY2}\r\n<p>{STORY3}</p>")}]
    });
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title>
<script type="application/ld+json">{ld}</script></head><body><div id="app"></div>
<footer><a href="/about">About us</a></footer></body></html>"#
    );
    let body = run(&html).body_text;
    assert_eq!(body, format!("{STORY}\n\n{STORY2}\n\n{STORY3}"));
    // A page that shows its story keeps its own text.
    let html = article_page().replace(
        "</head>",
        &format!(r#"<script type="application/ld+json">{ld}</script></head>"#),
    );
    assert!(run(&html).body_text.contains("This is the biggest change"));
}

#[test]
fn a_short_story_beside_a_longer_login_dialog_is_the_body() {
    let desc = "New York is the centre of the pandemic in the United States. Sport has come to a \
standstill too, and nobody knows when the leagues will play again.";
    let html = format!(
        r#"<html><head><title>Sport in times of corona</title></head><body>
<div id="login-dialog" class="b-dialog x-dialog-login">
<p>You will shortly receive an e-mail from us with information on how to reset your password.</p>
<p>Your password has been changed successfully. From now on, you can sign in with the new password.</p>
<p>Welcome! You will receive an e-mail from us shortly. Please confirm the link in it within 24 hours.</p>
<p>Your registration has unfortunately failed. Please delete your history and cookies, then retry.</p>
</div>
<article class="video-module"><div class="video-player"></div>
<div class="item-caption"><h2>Sport in times of corona</h2><p class="item-description">{desc}</p></div>
</article></body></html>"#
    );
    assert_eq!(run(&html).body_text, desc);
    // A cookie box's "main content" is not the article's.
    let flags = class_flags("gdpr-tab-main-content");
    assert_eq!(flags & dom::F_STRONG_POS, 0);
    assert_ne!(flags & dom::F_OVERLAY, 0);
}

#[test]
fn a_heading_left_last_once_a_disclosure_is_cut_goes_too() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body><article>
<h1>City expands bike lanes</h1><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p><p>{STORY}</p>
<h3>More cycling trips</h3><div class="related"><a href="/a">Along the river</a></div>
<p>This article may contain links to partners; we earn a commission on purchases.</p>
</article></body></html>"#
    );
    let body = run(&html).body_text;
    assert!(body.ends_with(STORY), "{body}");
}

#[test]
fn ad_labels_datelines_embed_placeholders_flyouts_and_affiliate_boxes_are_not_the_story() {
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body><article>
<h1>City expands bike lanes</h1><p>Veröffentlichung: 2. Februar 2022</p><p>{STORY}</p>
<p>Reklama</p><p>{STORY2}</p>
<div class="third-party-services--placeholder"><p>Wir respektieren deine Privatsphäre.</p></div>
<div class="c-flyout"><p>Jede kleine Spende hilft, gerade jetzt.</p></div>
<div id="affiliateText" class="affiliate-text"><p>Geld erhalten wir, wenn Sie diesen Anbieter wählen.</p></div>
<p>{STORY3}</p><p>{STORY}</p>
<p>Diese Artikel könnten euch auch interessieren:</p>
<p>Kennt ihr schon unseren Brandfinder? Dort gibt es Fair Fashion Labels.</p>
</article></body></html>"#
    );
    assert_eq!(
        run(&html).body_text,
        format!("{STORY}\n\n{STORY2}\n\n{STORY3}\n\n{STORY}")
    );
}

#[test]
fn appeals_and_next_article_teasers_end_the_story() {
    for line in [
        "While you are here…",
        "Vorschau auf den nächsten Artikel",
        "Next article",
        "Diese Artikel könnten euch auch interessieren:",
    ] {
        assert!(render::ends_story(line), "{line}");
    }
    assert!(!render::ends_story(
        "Next, the council voted on the budget."
    ));
    // A blog engine's post footer is dropped, and the author box after it goes too, however long.
    let footer =
        "This entry was posted in News and tagged bikes, city by Jane Roe. Bookmark the permalink.";
    assert!(render::ends_story(footer));
    assert!(render::ends_story("Über Simon Dückert"));
    assert!(render::ends_story("About Jane Roe"));
    assert!(!render::ends_story("About three kilometres"));
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body><article>
<h1>City expands bike lanes</h1><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p><p>{STORY}</p>
<p>{footer}</p><p>Jane Roe writes about cities, transport and the people who plan them.</p>
<p>She has covered the council since 2015. {STORY2} {STORY3} {STORY2}</p>
</article></body></html>"#
    );
    assert!(run(&html).body_text.ends_with(STORY));
    assert!(render::is_promo(
        "Darum: Hilf mit und unterstütze unser Magazin mit einem kleinen Beitrag."
    ));
    let html = format!(
        r#"<html><head><title>City expands bike lanes</title></head><body><article>
<h1>City expands bike lanes</h1><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p>
<p>Category : Press Releases</p></article></body></html>"#
    );
    assert_eq!(
        run(&html).body_text,
        format!("{STORY}\n\n{STORY2}\n\n{STORY3}")
    );
}

#[test]
fn the_headline_is_the_title_outside_the_breadcrumb_and_its_short_subheadline_is_kept() {
    let html = format!(
        r#"<html><head><title>Tired all the time - Daily Bar</title>
<meta property="og:title" content="Tired all the time"></head><body>
<div class="site-breadcrumb"><span><a href="/">Home</a></span> <h1>Tired all the time</h1></div>
<main><header class="entry-header"><h2 class="entry-title">Tired all the time</h2>
<div class="entry-meta"><a href="/author/jane">Jane Roe</a></div>
<h2 class="article-subheadline">Five illnesses behind a lasting fatigue</h2>
<div class="lead"><p>Always tired for no visible reason? It may not be the season: it can be a symptom.</p></div>
</header>
<div class="article-body"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div></main>
<aside class="sidebar"><p>Most read: ten recipes for a quick dinner, and five more for the weekend.</p></aside>
</body></html>"#
    );
    let body = run(&html).body_text;
    assert!(
        body.starts_with(
            "Five illnesses behind a lasting fatigue\n\nAlways tired for no visible reason?"
        ),
        "{body}"
    );
    assert!(body.ends_with(STORY3), "{body}");
    let doc = scraper::Html::parse_document(&html);
    let d = dom::build(&doc);
    let h = content::headline(&d, &["Tired all the time".to_owned()]).unwrap();
    assert_eq!(d.nodes[h as usize].tag, dom::Tag::H(2));
}

#[test]
fn a_deck_heading_after_the_headline_is_kept_unclassed_or_with_a_caption_class() {
    let deck = "Forty kilometres of protected lanes are planned over the next three years";
    for header in [
        format!(r#"<div class="article-header"><h1>City expands bike lanes</h1><h2>{deck}</h2>"#),
        format!(
            r#"<div id="article-hero"><h1>City expands bike lanes</h1><h2 class="hero__teaser caption-s5">{deck}</h2>"#
        ),
    ] {
        let html = format!(
            r#"<html><head><title>City expands bike lanes</title></head><body>
{header}<div class="toolbar"><a href="/share">Share</a></div></div>
<div class="article-body"><p>{STORY}</p><p>{STORY2}</p><p>{STORY3}</p></div>
</body></html>"#
        );
        let body = run(&html).body_text;
        assert!(body.starts_with(&format!("{deck}\n\n{STORY}")), "{body}");
    }
}
