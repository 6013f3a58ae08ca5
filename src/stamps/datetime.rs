//! Parsing of dates, times and zones as pages write them.
//!
//! Two parsers live here: [`parse_iso`] for machine stamps (meta tags, JSON-LD, `datetime`
//! attributes) and [`parse_visible`] for what a reader sees ("Published: 17 Dec. 2024, 10:23",
//! "입력 2024.12.17 오후 3:23", "Aktualisiert am 17.12.2024 um 15:23 Uhr", "2024年12月17日 15時23分").
//! Both work on a bounded token list (at most [`MAX_TOKENS`] tokens), never allocate per
//! character and never panic: anything they do not recognise yields `None`.
//!
//! Kept hand-written: date crates read one known layout at a time, mostly in English; pages mix
//! languages, scripts, 12-hour markers and prose around the stamp, and a wrong guess becomes a
//! wrong revision time.

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime,
    Offset, TimeZone,
};
use chrono_tz::Tz;

/// Tokens looked at per parse; stamps are short, so anything longer is prose.
pub(crate) const MAX_TOKENS: usize = 48;

/// A zone as a page or a site states it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Zone {
    Fixed(FixedOffset),
    Named(Tz),
}

impl Zone {
    /// The offset in force at a local wall-clock time (DST gaps resolve forward, folds early).
    pub(crate) fn offset_at(&self, wall: NaiveDateTime) -> FixedOffset {
        match self {
            Zone::Fixed(o) => *o,
            Zone::Named(tz) => match tz.offset_from_local_datetime(&wall) {
                LocalResult::Single(o) => o.fix(),
                LocalResult::Ambiguous(a, _) => a.fix(),
                LocalResult::None => tz
                    .offset_from_local_datetime(&(wall + Duration::hours(1)))
                    .earliest()
                    .map(|o| o.fix())
                    .unwrap_or_else(|| tz.offset_from_utc_datetime(&wall).fix()),
            },
        }
    }

    pub(crate) fn at_utc(&self, utc: NaiveDateTime) -> DateTime<FixedOffset> {
        match self {
            Zone::Fixed(o) => DateTime::from_naive_utc_and_offset(utc, *o),
            Zone::Named(tz) => tz.from_utc_datetime(&utc).fixed_offset(),
        }
    }

    pub(crate) fn localize(&self, wall: NaiveDateTime) -> DateTime<FixedOffset> {
        with_offset(wall, self.offset_at(wall))
    }
}

/// `wall` read as local time at `off`.
pub(crate) fn with_offset(wall: NaiveDateTime, off: FixedOffset) -> DateTime<FixedOffset> {
    DateTime::from_naive_utc_and_offset(wall - Duration::seconds(off.local_minus_utc() as i64), off)
}

/// Parses a configured zone: an IANA name ("Asia/Seoul"), "UTC"/"Z", or an offset ("+09:00").
pub(crate) fn parse_zone_spec(s: &str) -> Option<Zone> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("utc") || s.eq_ignore_ascii_case("gmt") || s == "Z" {
        return Some(Zone::Fixed(FixedOffset::east_opt(0)?));
    }
    if s.starts_with('+') || s.starts_with('-') {
        return parse_offset_str(s).map(Zone::Fixed);
    }
    s.parse::<Tz>().ok().map(Zone::Named)
}

/// "+09:00", "+0900", "-05", "+9" (at most ±15:59).
fn parse_offset_str(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' | 0xE2 => (-1, s.strip_prefix('-').or_else(|| s.strip_prefix('−'))?),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (i32, i32) = match digits.len() {
        1 | 2 => (digits.parse().ok()?, 0),
        3 => (digits[..1].parse().ok()?, digits[1..].parse().ok()?),
        _ => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
    };
    if h > 15 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// A machine-readable stamp (ISO 8601 / RFC 3339 and friends).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MachineStamp {
    pub wall: NaiveDateTime,
    pub offset: Option<FixedOffset>,
    pub has_time: bool,
}

impl MachineStamp {
    pub(crate) fn is_utc(&self) -> bool {
        self.offset.is_some_and(|o| o.local_minus_utc() == 0)
    }
    pub(crate) fn utc(&self) -> Option<NaiveDateTime> {
        self.offset
            .map(|o| self.wall - Duration::seconds(o.local_minus_utc() as i64))
    }
}

fn digits_at(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let s = b.get(i..i + n)?;
    if !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |a, d| a * 10 + (d - b'0') as u32))
}

/// Parses "2024-12-17", "2024-12-17T10:23", "2024-12-17T10:23:00.000Z", "2024-12-17 10:23:00+0900",
/// "20241217T102300Z". Trailing text after a complete stamp is ignored.
pub(crate) fn parse_iso(s: &str) -> Option<MachineStamp> {
    let b = s.trim().as_bytes();
    let (y, mo, d, mut i) = if b.get(4) == Some(&b'-') || b.get(4) == Some(&b'/') {
        let sep = b[4];
        if b.get(7) != Some(&sep) {
            return None;
        }
        (
            digits_at(b, 0, 4)?,
            digits_at(b, 5, 2)?,
            digits_at(b, 8, 2)?,
            10,
        )
    } else {
        (
            digits_at(b, 0, 4)?,
            digits_at(b, 4, 2)?,
            digits_at(b, 6, 2)?,
            8,
        )
    };
    if !(1970..=2100).contains(&y) {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let mut time = NaiveTime::MIN;
    let mut has_time = false;
    let mut offset = None;
    if matches!(b.get(i), Some(b'T' | b't' | b' ')) && b.get(i + 1).is_some_and(u8::is_ascii_digit)
    {
        i += 1;
        let h = digits_at(b, i, 2)?;
        let (mi, next) = if b.get(i + 2) == Some(&b':') {
            (digits_at(b, i + 3, 2)?, i + 5)
        } else {
            (digits_at(b, i + 2, 2)?, i + 4)
        };
        i = next;
        let mut sec = 0;
        if b.get(i) == Some(&b':') {
            sec = digits_at(b, i + 1, 2)?;
            i += 3;
        } else if b.get(i).is_some_and(u8::is_ascii_digit) {
            sec = digits_at(b, i, 2)?;
            i += 2;
        }
        if matches!(b.get(i), Some(b'.' | b',')) {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        time = NaiveTime::from_hms_opt(h, mi, sec.min(59))?;
        has_time = true;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        match b.get(i) {
            Some(b'Z' | b'z') => offset = FixedOffset::east_opt(0),
            Some(b'+' | b'-') => {
                let end = (i + 1..b.len().min(i + 7))
                    .find(|&k| !(b[k].is_ascii_digit() || b[k] == b':'))
                    .unwrap_or(b.len().min(i + 7));
                offset = parse_offset_str(std::str::from_utf8(&b[i..end]).ok()?);
            }
            Some(b'U' | b'G') => {
                let rest = std::str::from_utf8(&b[i..]).ok()?;
                if rest.starts_with("UTC") || rest.starts_with("GMT") {
                    offset = FixedOffset::east_opt(0);
                }
            }
            _ => {}
        }
    }
    Some(MachineStamp {
        wall: date.and_time(time),
        offset,
        has_time,
    })
}

/// How to read an all-numeric date such as 05/12/2024.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DayOrder {
    DayFirst,
    MonthFirst,
}

/// A stamp as read from visible text; the year may be missing ("Dec. 17").
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Visible {
    pub year: Option<i32>,
    pub month: u32,
    pub day: u32,
    pub time: Option<NaiveTime>,
    pub zone: Option<Zone>,
}

impl Visible {
    pub(crate) fn date_in(&self, year: i32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(year, self.month, self.day)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'a> {
    Num { v: u32, digits: u8 },
    Word(&'a str),
    Sep(char),
}

#[derive(Clone, Copy, Debug)]
struct Token<'a> {
    tok: Tok<'a>,
    /// Byte offset just past the token in the input.
    end: usize,
    space_before: bool,
}

fn is_unit_char(c: char) -> bool {
    matches!(
        c,
        '年' | '月' | '日' | '時' | '分' | '秒' | '년' | '월' | '일' | '시' | '분' | '초'
    )
}

fn fw_digit(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        '０'..='９' => Some(c as u32 - '０' as u32),
        _ => None,
    }
}

fn tokenize(s: &str, max: usize) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(16);
    let mut it = s.char_indices().peekable();
    let mut space = false;
    let mut after_num = false;
    while let Some(&(i, c)) = it.peek() {
        if out.len() >= max {
            break;
        }
        if c.is_whitespace() {
            space = true;
            after_num = false;
            it.next();
            continue;
        }
        if let Some(d0) = fw_digit(c) {
            let mut v = d0;
            let mut n: u8 = 1;
            let mut end = i + c.len_utf8();
            it.next();
            while let Some(&(j, c2)) = it.peek() {
                match fw_digit(c2) {
                    Some(d) => {
                        v = v.saturating_mul(10).saturating_add(d);
                        n = n.saturating_add(1);
                        end = j + c2.len_utf8();
                        it.next();
                    }
                    None => break,
                }
            }
            out.push(Token {
                tok: Tok::Num { v, digits: n },
                end,
                space_before: space,
            });
            after_num = true;
        } else if c.is_alphabetic() {
            if after_num && is_unit_char(c) {
                let end = i + c.len_utf8();
                it.next();
                out.push(Token {
                    tok: Tok::Word(&s[i..end]),
                    end,
                    space_before: space,
                });
                after_num = false;
                space = false;
                continue;
            }
            let mut end = i + c.len_utf8();
            it.next();
            while let Some(&(j, c2)) = it.peek() {
                if c2.is_alphabetic() || (c2 == '\'' || c2 == '’') && end > i {
                    end = j + c2.len_utf8();
                    it.next();
                } else {
                    break;
                }
            }
            out.push(Token {
                tok: Tok::Word(&s[i..end]),
                end,
                space_before: space,
            });
            after_num = false;
        } else {
            it.next();
            let c = match c {
                '：' => ':',
                '，' => ',',
                '（' => '(',
                '）' => ')',
                '／' => '/',
                '．' => '.',
                '－' | '‐' => '-',
                _ => c,
            };
            out.push(Token {
                tok: Tok::Sep(c),
                end: i + c.len_utf8(),
                space_before: space,
            });
            after_num = false;
        }
        space = false;
    }
    out
}

pub(crate) fn month_from_word(w: &str) -> Option<u32> {
    let lw;
    let w = if w.bytes().all(|b| b.is_ascii_lowercase()) {
        w
    } else {
        lw = w.to_lowercase();
        lw.as_str()
    };
    Some(match w {
        "jan" | "january" | "januar" | "jänner" | "janvier" | "janv" | "enero" | "ene" => 1,
        "feb" | "february" | "februar" | "février" | "fevrier" | "févr" | "fevr" | "febrero" => 2,
        "mar" | "march" | "märz" | "mär" | "mrz" | "maerz" | "mars" | "marzo" => 3,
        "apr" | "april" | "avril" | "avr" | "abril" | "abr" => 4,
        "may" | "mai" | "mayo" => 5,
        "jun" | "june" | "juni" | "juin" | "junio" => 6,
        "jul" | "july" | "juli" | "juillet" | "juil" | "julio" => 7,
        "aug" | "august" | "août" | "aout" | "agosto" | "ago" => 8,
        "sep" | "sept" | "september" | "septembre" | "septiembre" | "setiembre" => 9,
        "oct" | "october" | "oktober" | "okt" | "octobre" | "octubre" => 10,
        "nov" | "november" | "novembre" | "noviembre" => 11,
        "dec" | "december" | "dezember" | "dez" | "décembre" | "decembre" | "déc" | "dic"
        | "diciembre" => 12,
        _ => return None,
    })
}

pub(crate) fn is_weekday(w: &str) -> bool {
    let l = w.to_lowercase();
    let l = l.as_str();
    matches!(
        l,
        "mon"
            | "monday"
            | "tue"
            | "tues"
            | "tuesday"
            | "wed"
            | "wednesday"
            | "thu"
            | "thur"
            | "thurs"
            | "thursday"
            | "fri"
            | "friday"
            | "sat"
            | "saturday"
            | "sun"
            | "sunday"
            | "montag"
            | "dienstag"
            | "mittwoch"
            | "donnerstag"
            | "freitag"
            | "samstag"
            | "sonntag"
            | "mo"
            | "di"
            | "mi"
            | "do"
            | "fr"
            | "sa"
            | "so"
            | "lundi"
            | "mardi"
            | "mercredi"
            | "jeudi"
            | "vendredi"
            | "samedi"
            | "dimanche"
            | "lunes"
            | "martes"
            | "miércoles"
            | "miercoles"
            | "jueves"
            | "viernes"
            | "sábado"
            | "sabado"
            | "domingo"
            | "월"
            | "화"
            | "수"
            | "목"
            | "금"
            | "토"
            | "일"
            | "月"
            | "火"
            | "水"
            | "木"
            | "金"
            | "土"
            | "日"
            | "曜日"
            | "월요일"
            | "화요일"
            | "수요일"
            | "목요일"
            | "금요일"
            | "토요일"
            | "일요일"
    ) || l.ends_with("曜日")
        || l.ends_with("曜")
}

/// Words that may sit between a label and its stamp, or between a date and its time.
fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "on" | "at"
            | "am"
            | "um"
            | "le"
            | "el"
            | "à"
            | "a"
            | "las"
            | "la"
            | "de"
            | "del"
            | "den"
            | "the"
            | "dem"
            | "du"
            | "vom"
            | "on:"
            | "les"
            | "lúc"
            | "hrs"
            | "sur"
    ) || is_weekday(w)
}

fn word<'a>(t: Option<&Token<'a>>) -> Option<&'a str> {
    match t?.tok {
        Tok::Word(w) => Some(w),
        _ => None,
    }
}

fn sep(t: Option<&Token<'_>>) -> Option<char> {
    match t?.tok {
        Tok::Sep(c) => Some(c),
        _ => None,
    }
}

fn num(t: Option<&Token<'_>>) -> Option<(u32, u8)> {
    match t?.tok {
        Tok::Num { v, digits } => Some((v, digits)),
        _ => None,
    }
}

fn year_of(v: u32, digits: u8) -> Option<i32> {
    match digits {
        4 if (1970..=2100).contains(&v) => Some(v as i32),
        _ => None,
    }
}

type DateParts = (Option<i32>, u32, u32);

fn valid(y: Option<i32>, m: u32, d: u32) -> bool {
    (1..=12).contains(&m) && NaiveDate::from_ymd_opt(y.unwrap_or(2024), m, d).is_some()
}

/// Recognises a date starting at token `i`.
fn date_at(
    t: &[Token<'_>],
    i: usize,
    order: DayOrder,
    yearless: bool,
) -> Option<(DateParts, usize)> {
    let first = t.get(i)?;
    match first.tok {
        Tok::Num { v: a, digits: da } => {
            // 2024.12.17 / 2024-12-17 / 2024/12/17 (optionally a trailing dot)
            if da == 4 {
                let y = year_of(a, da)?;
                if let (Some(s1), Some((m, _)), Some(s2), Some((d, dd))) = (
                    sep(t.get(i + 1)),
                    num(t.get(i + 2)),
                    sep(t.get(i + 3)),
                    num(t.get(i + 4)),
                ) && s1 == s2
                    && matches!(s1, '.' | '-' | '/')
                    && dd <= 2
                    && valid(Some(y), m, d)
                {
                    let mut n = i + 5;
                    if s1 == '.' && sep(t.get(n)) == Some('.') {
                        n += 1;
                    }
                    return Some(((Some(y), m, d), n));
                }
                // 2024년 12월 17일 / 2024年12月17日
                if let (Some(u1), Some((m, _)), Some(u2), Some((d, _)), Some(u3)) = (
                    word(t.get(i + 1)),
                    num(t.get(i + 2)),
                    word(t.get(i + 3)),
                    num(t.get(i + 4)),
                    word(t.get(i + 5)),
                ) && matches!((u1, u2, u3), ("년", "월", "일") | ("年", "月", "日"))
                    && valid(Some(y), m, d)
                {
                    return Some(((Some(y), m, d), i + 6));
                }
                return None;
            }
            if da > 2 || a == 0 {
                return None;
            }
            // 12월 17일 / 12月17日
            if let (Some(u1), Some((d, _)), Some(u2)) =
                (word(t.get(i + 1)), num(t.get(i + 2)), word(t.get(i + 3)))
                && matches!((u1, u2), ("월", "일") | ("月", "日"))
                && valid(None, a, d)
            {
                return Some(((None, a, d), i + 4));
            }
            // 17.12.2024 / 12/17/2024 / 17-12-24 / 17.12.
            if let (Some(s1), Some((b, db))) = (sep(t.get(i + 1)), num(t.get(i + 2))) {
                if matches!(s1, '.' | '/' | '-') && db <= 2 && b > 0 {
                    let (d, m) = if s1 == '.' || a > 12 {
                        (a, b)
                    } else if b > 12 {
                        (b, a)
                    } else {
                        match order {
                            DayOrder::DayFirst => (a, b),
                            DayOrder::MonthFirst => (b, a),
                        }
                    };
                    let s2 = sep(t.get(i + 3));
                    if s2 == Some(s1) {
                        if let Some((y, dy)) = num(t.get(i + 4)) {
                            let year = match dy {
                                4 => year_of(y, dy),
                                // "17.12.24", but not a version such as "1.9.22_1171"
                                2 if !t[i + 4].space_before
                                    && t.get(i + 5).is_none_or(|n| {
                                        n.space_before
                                            || matches!(n.tok, Tok::Sep(c) if c != '_' && c != '.')
                                    }) =>
                                {
                                    Some(2000 + y as i32)
                                }
                                _ => None,
                            };
                            if let Some(year) = year {
                                if valid(Some(year), m, d) {
                                    return Some(((Some(year), m, d), i + 5));
                                }
                                return None;
                            }
                        }
                        if s1 == '.' && valid(None, m, d) {
                            return Some(((None, m, d), i + 4));
                        }
                    } else if yearless && valid(None, m, d) && s2 != Some(':') {
                        return Some(((None, m, d), i + 3));
                    }
                }
                return None;
            }
            // 17 Dec 2024 / 17. Dezember 2024 / 17 de diciembre de 2024 / 1er décembre
            let mut j = i + 1;
            if sep(t.get(j)) == Some('.') {
                j += 1;
            }
            if matches!(
                word(t.get(j)),
                Some("er" | "st" | "nd" | "rd" | "th" | "de")
            ) {
                j += 1;
            }
            let m = month_from_word(word(t.get(j))?)?;
            j += 1;
            if sep(t.get(j)) == Some('.') {
                j += 1;
            }
            let mut k = j;
            if word(t.get(k)) == Some("de") || sep(t.get(k)) == Some(',') {
                k += 1;
            }
            if let Some((y, dy)) = num(t.get(k))
                && let Some(y) = year_of(y, dy)
            {
                return valid(Some(y), m, a).then_some(((Some(y), m, a), k + 1));
            }
            valid(None, m, a).then_some(((None, m, a), j))
        }
        Tok::Word(w) => {
            // Dec. 17, 2024 / December 17th 2024
            let m = month_from_word(w)?;
            let mut j = i + 1;
            if sep(t.get(j)) == Some('.') {
                j += 1;
            }
            let (d, dd) = num(t.get(j))?;
            if dd > 2 || sep(t.get(j + 1)) == Some(':') {
                return None;
            }
            j += 1;
            if matches!(word(t.get(j)), Some("st" | "nd" | "rd" | "th")) {
                j += 1;
            }
            let mut k = j;
            if sep(t.get(k)) == Some(',') {
                k += 1;
            }
            if let Some((y, dy)) = num(t.get(k))
                && let Some(y) = year_of(y, dy)
            {
                return valid(Some(y), m, d).then_some(((Some(y), m, d), k + 1));
            }
            valid(None, m, d).then_some(((None, m, d), j))
        }
        Tok::Sep(_) => None,
    }
}

fn meridiem_word(w: &str) -> Option<bool> {
    match w {
        "오전" | "午前" | "AM" | "am" | "Am" => Some(false),
        "오후" | "午後" | "PM" | "pm" | "Pm" => Some(true),
        _ => None,
    }
}

/// "a.m." / "p.m." / "am" / "PM" starting at `j`: (is_pm, next index).
fn meridiem_at(t: &[Token<'_>], j: usize) -> Option<(bool, usize)> {
    let w = word(t.get(j))?;
    if let Some(pm) = meridiem_word(w).filter(|_| w.is_ascii()) {
        let mut n = j + 1;
        if sep(t.get(n)) == Some('.') {
            n += 1;
        }
        return Some((pm, n));
    }
    let pm = match w {
        "a" | "A" => false,
        "p" | "P" => true,
        _ => return None,
    };
    if sep(t.get(j + 1)) == Some('.') && matches!(word(t.get(j + 2)), Some("m" | "M")) {
        let mut n = j + 3;
        if sep(t.get(n)) == Some('.') {
            n += 1;
        }
        return Some((pm, n));
    }
    None
}

/// Recognises a time of day starting at token `i`.
fn time_at(t: &[Token<'_>], i: usize) -> Option<(NaiveTime, usize)> {
    let mut j = i;
    let mut mer = None;
    if let Some(pm) = word(t.get(j))
        .and_then(meridiem_word)
        .filter(|_| !word(t.get(j)).unwrap().is_ascii())
    {
        mer = Some(pm);
        j += 1;
    }
    let (h, dh) = num(t.get(j))?;
    // "2010 GMT": a four-digit time, only with its zone.
    if dh == 4
        && mer.is_none()
        && h % 100 < 60
        && h / 100 < 24
        && word(t.get(j + 1)).is_some_and(|w| zone_word(w).is_some())
    {
        return Some((NaiveTime::from_hms_opt(h / 100, h % 100, 0)?, j + 1));
    }
    if dh > 2 || h > 24 {
        return None;
    }
    j += 1;
    let mut m = 0;
    let mut s = 0;
    let mut explicit = false;
    match t.get(j).map(|x| x.tok) {
        Some(Tok::Sep(':')) => {
            let (mm, dm) = num(t.get(j + 1))?;
            if dm != 2 {
                return None;
            }
            m = mm;
            j += 2;
            if sep(t.get(j)) == Some(':')
                && let Some((ss, 2)) = num(t.get(j + 1))
            {
                s = ss;
                j += 2;
            }
            explicit = true;
        }
        Some(Tok::Sep('.')) => {
            // "15.23 Uhr" / "3.15 p.m." only: a bare "17.12" is a date.
            let (mm, dm) = num(t.get(j + 1))?;
            let after = j + 2;
            let ok = dm == 2
                && (matches!(word(t.get(after)), Some("Uhr" | "uhr" | "h"))
                    || word(t.get(after)).is_some_and(|w| zone_word(w).is_some())
                    || meridiem_at(t, after).is_some());
            if !ok {
                return None;
            }
            m = mm;
            j = after;
            explicit = true;
        }
        Some(Tok::Word("h" | "H")) => {
            j += 1;
            if let Some((mm, 2)) = num(t.get(j)) {
                m = mm;
                j += 1;
            }
            explicit = true;
        }
        Some(Tok::Word("시" | "時")) => {
            if word(t.get(j + 1)) == Some("간") {
                return None;
            }
            j += 1;
            if let (Some((mm, _)), Some("분" | "分")) = (num(t.get(j)), word(t.get(j + 1))) {
                m = mm;
                j += 2;
            }
            explicit = true;
        }
        _ => {}
    }
    if let Some((pm, n)) = meridiem_at(t, j) {
        mer = Some(pm);
        j = n;
    } else if !explicit {
        return None;
    }
    if matches!(
        word(t.get(j)),
        Some("Uhr" | "uhr" | "h" | "hs" | "hrs" | "horas" | "Hrs")
    ) {
        j += 1;
        if sep(t.get(j)) == Some('.') {
            j += 1;
        }
    }
    let mut h = h;
    match mer {
        Some(true) if h < 12 => h += 12,
        Some(false) if h == 12 => h = 0,
        Some(_) if h > 12 => return None,
        _ => {}
    }
    if h == 24 && m == 0 {
        h = 0;
    }
    Some((NaiveTime::from_hms_opt(h, m, s.min(59))?, j))
}

/// A zone abbreviation as written next to a stamp. Only upper-case words count ("ist" is German).
pub(crate) fn zone_word(w: &str) -> Option<Zone> {
    let h = |x: i32| FixedOffset::east_opt(x).map(Zone::Fixed);
    match w {
        "UTC" | "GMT" | "UT" | "WET" | "Z" => h(0),
        "BST" | "CET" | "MEZ" | "WEST" | "WAT" => h(3600),
        "CEST" | "MESZ" | "EET" | "SAST" | "CAT" => h(7200),
        "EEST" | "MSK" | "EAT" => h(3 * 3600),
        "IST" => h(5 * 3600 + 1800),
        "PKT" => h(5 * 3600),
        "WIB" | "ICT" => h(7 * 3600),
        "HKT" | "SGT" | "PHT" | "AWST" | "MYT" => h(8 * 3600),
        "KST" | "JST" => h(9 * 3600),
        "ACST" => h(9 * 3600 + 1800),
        "ACDT" => h(10 * 3600 + 1800),
        "AEST" => h(10 * 3600),
        "AEDT" => h(11 * 3600),
        "NZST" => h(12 * 3600),
        "NZDT" => h(13 * 3600),
        "EST" => h(-5 * 3600),
        "EDT" | "CDT" => h(-4 * 3600 - if w == "CDT" { 3600 } else { 0 }),
        "CST" => h(-6 * 3600),
        "MST" => h(-7 * 3600),
        "MDT" => h(-6 * 3600),
        "PST" => h(-8 * 3600),
        "PDT" => h(-7 * 3600),
        "AKST" => h(-9 * 3600),
        "AKDT" => h(-8 * 3600),
        "HST" => h(-10 * 3600),
        "ET" => Some(Zone::Named(Tz::America__New_York)),
        "CT" => Some(Zone::Named(Tz::America__Chicago)),
        "MT" => Some(Zone::Named(Tz::America__Denver)),
        "PT" => Some(Zone::Named(Tz::America__Los_Angeles)),
        _ => None,
    }
}

/// Recognises a zone at token `i`: "KST", "(GMT+9)", "UTC+09:00", "+0900".
fn zone_at(t: &[Token<'_>], i: usize) -> Option<(Zone, usize)> {
    let mut j = i;
    let paren = matches!(sep(t.get(j)), Some('(' | '['));
    if paren {
        j += 1;
    }
    let mut zone = None;
    if let Some(w) = word(t.get(j)) {
        if let Some(z) = zone_word(w) {
            zone = Some(z);
            j += 1;
            if matches!(w, "GMT" | "UTC")
                && let Some((off, n)) = numeric_offset(t, j)
            {
                zone = Some(Zone::Fixed(off));
                j = n;
            }
        }
    } else if !paren && let Some((off, n)) = numeric_offset(t, j) {
        zone = Some(Zone::Fixed(off));
        j = n;
    }
    let zone = zone?;
    if paren && matches!(sep(t.get(j)), Some(')' | ']')) {
        j += 1;
    }
    Some((zone, j))
}

fn numeric_offset(t: &[Token<'_>], j: usize) -> Option<(FixedOffset, usize)> {
    let sign = match sep(t.get(j))? {
        '+' => 1,
        '-' | '−' => -1,
        _ => return None,
    };
    let (a, da) = num(t.get(j + 1))?;
    let (secs, n) = if da == 4 {
        ((a / 100 * 3600 + a % 100 * 60) as i32, j + 2)
    } else if da <= 2 {
        if sep(t.get(j + 2)) == Some(':') {
            let (m, 2) = num(t.get(j + 3))? else {
                return None;
            };
            if m > 59 {
                return None;
            }
            ((a * 3600 + m * 60) as i32, j + 4)
        } else {
            ((a * 3600) as i32, j + 2)
        }
    } else {
        return None;
    };
    if secs > 15 * 3600 {
        return None;
    }
    Some((FixedOffset::east_opt(sign * secs)?, n))
}

/// Reads a stamp at the start of `s` (after a label): a date, optionally a time, optionally a zone,
/// in either order, with a few filler words allowed. Returns the stamp and the byte offset where
/// it ends. A time without a date is returned with month 0 (the caller supplies the date).
pub(crate) fn parse_visible(s: &str, order: DayOrder, yearless: bool) -> Option<(Visible, usize)> {
    let t = tokenize(s, MAX_TOKENS);
    let mut date: Option<DateParts> = None;
    let mut time: Option<NaiveTime> = None;
    let mut zone: Option<Zone> = None;
    let mut i = 0;
    let mut lead = 0;
    let mut trail = 0;
    let mut end = 0;
    while i < t.len() {
        if date.is_none()
            && let Some((d, n)) = date_at(&t, i, order, yearless)
        {
            date = Some(d);
            end = t[n - 1].end;
            i = n;
            trail = 0;
            if time.is_some() {
                if let Some((z, n2)) = zone_at(&t, i).filter(|_| zone.is_none()) {
                    zone = Some(z);
                    end = t[n2 - 1].end;
                }
                break;
            }
            continue;
        }
        if time.is_none()
            && let Some((tm, n)) = time_at(&t, i)
        {
            time = Some(tm);
            end = t[n - 1].end;
            i = n;
            trail = 0;
            if let Some((z, n2)) = zone_at(&t, i) {
                zone = Some(z);
                end = t[n2 - 1].end;
                i = n2;
            }
            if date.is_some() {
                break;
            }
            continue;
        }
        if date.is_some()
            && zone.is_none()
            && let Some((z, n2)) = zone_at(&t, i)
        {
            zone = Some(z);
            end = t[n2 - 1].end;
            i = n2;
            continue;
        }
        // "2010 GMT (0410 HKT) March 14, 2021": the same time in another zone.
        if time.is_some()
            && date.is_none()
            && sep(t.get(i)) == Some('(')
            && let Some(close) = (i + 1..t.len().min(i + 6)).find(|&k| sep(t.get(k)) == Some(')'))
        {
            i = close + 1;
            continue;
        }
        let skippable = match t[i].tok {
            Tok::Sep(c) => matches!(
                c,
                ':' | ','
                    | '-'
                    | '–'
                    | '—'
                    | '|'
                    | '('
                    | ')'
                    | '/'
                    | '·'
                    | '•'
                    | '.'
                    | '：'
                    | '（'
                    | '）'
                    | '['
                    | ']'
                    | '@'
                    | '，'
                    | '、'
            ),
            Tok::Word(w) => is_filler(w) || is_filler(&w.to_lowercase()),
            Tok::Num { .. } => false,
        };
        if !skippable {
            break;
        }
        if date.is_none() && time.is_none() {
            lead += 1;
            if lead > 4 {
                return None;
            }
        } else {
            trail += 1;
            if trail > 3 {
                break;
            }
        }
        i += 1;
    }
    // "Tue Jan 28 15:28:56 CET 2020": the year trails the time.
    if let (Some((None, m, d)), Some(_)) = (date, time)
        && let Some(y) = num(t.get(i)).and_then(|(v, n)| year_of(v, n))
    {
        date = Some((Some(y), m, d));
        end = t[i].end;
    }
    match (date, time) {
        (Some((y, m, d)), _) => Some((
            Visible {
                year: y,
                month: m,
                day: d,
                time,
                zone,
            },
            end,
        )),
        (None, Some(tm)) => Some((
            Visible {
                year: None,
                month: 0,
                day: 0,
                time: Some(tm),
                zone,
            },
            end,
        )),
        _ => None,
    }
}

/// Finds the first date anywhere in `s` (used for notes: "Update, Dec. 17: ...").
pub(crate) fn find_date(s: &str, order: DayOrder) -> Option<Visible> {
    let t = tokenize(s, MAX_TOKENS);
    for i in 0..t.len() {
        if let Some(((y, m, d), n)) = date_at(&t, i, order, true) {
            let mut time = None;
            let mut zone = None;
            // a time may follow within a few tokens ("17.12.2024, 10:23", "Dec 17, 2024 at 10:23")
            for j in n..t.len().min(n + 3) {
                if let Some((tm, n2)) = time_at(&t, j) {
                    time = Some(tm);
                    zone = zone_at(&t, n2).map(|(z, _)| z);
                    break;
                }
            }
            return Some(Visible {
                year: y,
                month: m,
                day: d,
                time,
                zone,
            });
        }
    }
    None
}

/// The year a year-less date most plausibly has, given a reference date near it.
pub(crate) fn infer_year(month: u32, day: u32, reference: NaiveDate) -> Option<NaiveDate> {
    let y = reference.year();
    let cand = NaiveDate::from_ymd_opt(y, month, day)?;
    // A January note on a December article belongs to the next year.
    if cand + Duration::days(60) < reference {
        return NaiveDate::from_ymd_opt(y + 1, month, day).or(Some(cand));
    }
    Some(cand)
}
