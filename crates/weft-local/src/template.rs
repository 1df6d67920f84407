//! The model's chat template, rendered with minijinja the way Hugging Face
//! `transformers` renders it with Jinja2 (`apply_chat_template`).
//!
//! The environment matches transformers': `trim_blocks` and `lstrip_blocks`
//! on, loop controls (`break`, `continue`), Python string and dict methods
//! (`.strip()`, `.startswith()`, `.split()`, `.items()`, ... through
//! `minijinja_contrib`'s pycompat), a `tojson` filter that writes what
//! Python's `json.dumps` writes (non-ASCII kept, `indent` and `sort_keys`
//! honoured, key order preserved), and the `raise_exception` and
//! `strftime_now` functions.
//!
//! Weft messages become the dictionaries templates expect, in the OpenAI
//! shape transformers uses:
//!
//! | weft | template |
//! | --- | --- |
//! | text parts | `content`, joined (always a string, possibly empty) |
//! | reasoning parts | `reasoning_content`, joined (only when there is some) |
//! | tool calls | `tool_calls: [{type: "function", id, function: {name, arguments}}]`, `arguments` parsed into an object (only when there are calls) |
//! | tool results | one `{role: "tool", content, tool_call_id, name}` message per result (`name` when the call is found earlier in the conversation) |
//! | tools | `tools: [{type: "function", function: {name, description, parameters}}]`, or `none` when there are none |

use std::sync::Arc;

use minijinja::value::{Kwargs, Rest, ValueKind, from_args};
use minijinja::{Environment, Error, ErrorKind, Value};
use weft_model::{Message, Role, ToolSpec};

use crate::LoadError;

/// ChatML, the fallback for models without a template: `<|im_start|>role`
/// turns closed by `<|im_end|>`, with tools offered in the system turn and
/// calls written as `<tool_call>` JSON ([`crate::toolcall::ToolCallFormat::QwenXml`]).
pub const CHATML: &str = r#"{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages and messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- '# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}
    {%- for tool in tools %}
        {{- '\n' + tool | tojson }}
    {%- endfor %}
    {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' }}
{%- elif messages and messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'system' and loop.first %}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' + message.content + '\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- else %}
        {{- '<|im_start|>' + message.role + '\n' + message.content }}
        {%- for call in message.tool_calls or [] %}
            {%- if message.content or not loop.first %}
                {{- '\n' }}
            {%- endif %}
            {{- '<tool_call>\n{"name": "' + call.function.name + '", "arguments": ' + call.function.arguments | tojson + '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"#;

const NAME: &str = "chat";

/// A compiled chat template.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos: String,
    eos: String,
    extra: Vec<(String, Value)>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("source_len", &self.source.len())
            .finish_non_exhaustive()
    }
}

fn template_error(context: &str) -> impl FnOnce(Error) -> LoadError + '_ {
    move |e| {
        let mut message = format!("{context}: {e}");
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        LoadError::Template(message)
    }
}

impl ChatTemplate {
    /// Compiles `source`; `bos` and `eos` are the texts of the model's
    /// beginning- and end-of-sequence tokens (`bos_token`, `eos_token` in
    /// the template). `strftime_now` reads the system clock (UTC) until
    /// [`ChatTemplate::with_date`] fixes the date.
    pub fn new(source: &str, bos: String, eos: String) -> Result<Self, LoadError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_function(None));
        env.add_template_owned(NAME, source.to_string())
            .map_err(template_error("cannot compile the chat template"))?;
        Ok(Self {
            env,
            source: source.to_string(),
            bos,
            eos,
            extra: Vec::new(),
        })
    }

    /// The built-in [`CHATML`] template.
    pub fn chatml(bos: String, eos: String) -> Result<Self, LoadError> {
        Self::new(CHATML, bos, eos)
    }

    /// This template with `strftime_now` answering for a fixed date
    /// (midnight UTC), for reproducible prompts.
    pub fn with_date(mut self, year: i32, month: u32, day: u32) -> Result<Self, LoadError> {
        let date = Date::new(year, month, day).ok_or_else(|| {
            LoadError::Template(format!("{year:04}-{month:02}-{day:02} is not a date"))
        })?;
        self.env
            .add_function("strftime_now", strftime_function(Some(date)));
        Ok(self)
    }

    /// This template with one more variable in every render, like the extra
    /// keyword arguments of `apply_chat_template` (`enable_thinking=False`
    /// for Qwen3, `date_string` for Llama 3.1). A later value for the same
    /// name replaces the earlier one; these override the standard variables.
    pub fn with_variable(mut self, name: &str, value: impl serde::Serialize) -> Self {
        self.extra.retain(|(n, _)| n != name);
        self.extra
            .push((name.to_string(), Value::from_serialize(value)));
        self
    }

    /// The template's source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation into the prompt text. With
    /// `add_generation_prompt`, the text ends with the opening of an
    /// assistant turn. An empty `tools` is passed as `none`.
    pub fn render(
        &self,
        messages: &[Message],
        tools: &[ToolSpec],
        add_generation_prompt: bool,
    ) -> Result<String, LoadError> {
        let mut context: Vec<(String, Value)> = vec![
            ("messages".into(), hf_messages(messages)?),
            (
                "tools".into(),
                if tools.is_empty() {
                    Value::from(())
                } else {
                    hf_tools(tools)?
                },
            ),
            (
                "add_generation_prompt".into(),
                Value::from(add_generation_prompt),
            ),
            ("bos_token".into(), Value::from(self.bos.as_str())),
            ("eos_token".into(), Value::from(self.eos.as_str())),
        ];
        for (name, value) in &self.extra {
            context.retain(|(n, _)| n != name);
            context.push((name.clone(), value.clone()));
        }
        let template = self
            .env
            .get_template(NAME)
            .map_err(template_error("cannot load the chat template"))?;
        template
            .render(Value::from_iter(context))
            .map_err(template_error("cannot render the chat template"))
    }
}

/// The conversation as the JSON list of dictionaries templates receive (see
/// the module documentation), key order preserved. For inspection and
/// tests.
pub fn hf_messages_json(messages: &[Message]) -> Result<String, LoadError> {
    serde_json::to_string(&hf_messages(messages)?)
        .map_err(|e| LoadError::Template(format!("cannot write the messages as JSON: {e}")))
}

/// The tools as the JSON list templates receive, key order preserved.
pub fn hf_tools_json(tools: &[ToolSpec]) -> Result<String, LoadError> {
    serde_json::to_string(&hf_tools(tools)?)
        .map_err(|e| LoadError::Template(format!("cannot write the tools as JSON: {e}")))
}

/// A map value with its keys in this order.
fn object(entries: Vec<(&str, Value)>) -> Value {
    Value::from_iter(entries)
}

/// JSON text as a template value, key order preserved.
fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<Value>(text)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn hf_messages(messages: &[Message]) -> Result<Value, LoadError> {
    let mut call_names: Vec<(&str, &str)> = Vec::new();
    let mut out = Vec::with_capacity(messages.len());
    for message in messages {
        match message.role {
            Role::Tool => {
                let text = message.text();
                if !text.is_empty() {
                    out.push(object(vec![
                        ("role", Value::from("tool")),
                        ("content", Value::from(text)),
                    ]));
                }
                for result in message.tool_results_iter() {
                    let mut entries = vec![
                        ("role", Value::from("tool")),
                        ("content", Value::from(result.content.as_str())),
                        ("tool_call_id", Value::from(result.call_id.as_str())),
                    ];
                    if let Some((_, name)) = call_names
                        .iter()
                        .rev()
                        .find(|(id, _)| *id == result.call_id)
                    {
                        entries.push(("name", Value::from(*name)));
                    }
                    out.push(object(entries));
                }
            }
            role => {
                let mut entries = vec![
                    ("role", Value::from(role_name(role))),
                    ("content", Value::from(message.text())),
                ];
                let reasoning = message.reasoning_text();
                if !reasoning.is_empty() {
                    entries.push(("reasoning_content", Value::from(reasoning)));
                }
                let calls = message.tool_calls();
                if !calls.is_empty() {
                    let mut list = Vec::with_capacity(calls.len());
                    for call in calls {
                        call_names.push((call.id.as_str(), call.name.as_str()));
                        // Arguments that are not JSON are passed as text.
                        let arguments = parse_json(&call.arguments)
                            .unwrap_or_else(|_| Value::from(call.arguments.as_str()));
                        list.push(object(vec![
                            ("type", Value::from("function")),
                            ("id", Value::from(call.id.as_str())),
                            (
                                "function",
                                object(vec![
                                    ("name", Value::from(call.name.as_str())),
                                    ("arguments", arguments),
                                ]),
                            ),
                        ]));
                    }
                    entries.push(("tool_calls", Value::from(list)));
                }
                out.push(object(entries));
            }
        }
    }
    Ok(Value::from(out))
}

fn hf_tools(tools: &[ToolSpec]) -> Result<Value, LoadError> {
    let mut out = Vec::with_capacity(tools.len());
    for tool in tools {
        let parameters = parse_json(&tool.input_schema).map_err(|e| {
            LoadError::Template(format!(
                "the input schema of tool `{}` is not JSON: {e}",
                tool.name
            ))
        })?;
        out.push(object(vec![
            ("type", Value::from("function")),
            (
                "function",
                object(vec![
                    ("name", Value::from(tool.name.as_str())),
                    ("description", Value::from(tool.description.as_str())),
                    ("parameters", parameters),
                ]),
            ),
        ]));
    }
    Ok(Value::from(out))
}

/// `raise_exception(message)`: fails the render with the template's
/// message.
fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `tojson(value, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`: transformers' override of Jinja's filter, which calls
/// Python's `json.dumps` with these arguments.
fn tojson(value: &Value, args: Rest<Value>) -> Result<Value, Error> {
    let (positional, kwargs): (&[Value], Kwargs) = from_args(&args)?;
    if positional.len() > 4 {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments",
        ));
    }
    let arg = |i: usize, name: &str| -> Result<Option<Value>, Error> {
        let named: Option<Value> = kwargs.get(name)?;
        Ok(named.or_else(|| positional.get(i).cloned()))
    };
    let ensure_ascii = arg(0, "ensure_ascii")?.is_some_and(|v| v.is_true());
    let indent = match arg(1, "indent")? {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => Some(if let Some(s) = v.as_str() {
            s.to_string()
        } else {
            let n = i64::try_from(v.clone()).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    "indent must be an integer or a string",
                )
            })?;
            " ".repeat(usize::try_from(n).unwrap_or(0))
        }),
    };
    let separators = match arg(2, "separators")? {
        Some(v) if !v.is_none() => {
            let items: Vec<Value> = v
                .try_iter()
                .map_err(|_| Error::new(ErrorKind::InvalidOperation, "separators must be a pair"))?
                .collect();
            match items.as_slice() {
                [item, key] if item.as_str().is_some() && key.as_str().is_some() => (
                    item.as_str().unwrap_or_default().to_string(),
                    key.as_str().unwrap_or_default().to_string(),
                ),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "separators must be a pair of strings",
                    ));
                }
            }
        }
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let sort_keys = arg(3, "sort_keys")?.is_some_and(|v| v.is_true());
    kwargs.assert_all_used()?;
    let options = JsonOptions {
        ensure_ascii,
        indent,
        item_separator: separators.0,
        key_separator: separators.1,
        sort_keys,
    };
    let mut out = String::new();
    write_json(value, &options, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonOptions {
    ensure_ascii: bool,
    indent: Option<String>,
    item_separator: String,
    key_separator: String,
    sort_keys: bool,
}

fn not_serializable(value: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("object of type {} is not JSON serializable", value.kind()),
    )
}

fn write_newline(options: &JsonOptions, depth: usize, out: &mut String) {
    if let Some(indent) = &options.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write_json(
    value: &Value,
    options: &JsonOptions,
    depth: usize,
    out: &mut String,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => write_number(value, out)?,
        ValueKind::String => write_string(
            value.as_str().unwrap_or_default(),
            options.ensure_ascii,
            out,
        ),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value
                .try_iter()
                .map_err(|_| not_serializable(value))?
                .collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&options.item_separator);
                }
                write_newline(options, depth + 1, out);
                write_json(item, options, depth + 1, out)?;
            }
            write_newline(options, depth, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter().map_err(|_| not_serializable(value))? {
                let item = value.get_item(&key)?;
                entries.push((json_key(&key)?, item));
            }
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if options.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&options.item_separator);
                }
                write_newline(options, depth + 1, out);
                write_string(key, options.ensure_ascii, out);
                out.push_str(&options.key_separator);
                write_json(item, options, depth + 1, out)?;
            }
            write_newline(options, depth, out);
            out.push('}');
        }
        _ => return Err(not_serializable(value)),
    }
    Ok(())
}

/// A dictionary key as `json.dumps` writes it: strings as they are,
/// numbers, booleans and `None` as their JSON text.
fn json_key(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number => {
            let mut s = String::new();
            write_number(key, &mut s)?;
            Ok(s)
        }
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "keys must be str, int, float, bool or None, not {}",
                key.kind()
            ),
        )),
    }
}

fn write_number(value: &Value, out: &mut String) -> Result<(), Error> {
    if value.is_integer() {
        out.push_str(&value.to_string());
        return Ok(());
    }
    let f = f64::try_from(value.clone())?;
    out.push_str(&python_float(f));
    Ok(())
}

/// A float as Python's `repr` writes it (and so `json.dumps`): the shortest
/// digits that read back the same, in exponent form below 1e-4 and from
/// 1e16.
fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // Rust's shortest round-trip digits, as `d.ddde[-]x`.
    let sci = format!("{f:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let fixed = format!("{f}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// A JSON string as `json.dumps` writes it.
fn write_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7E) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A calendar date, for `strftime_now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    fn new(year: i32, month: u32, day: u32) -> Option<Self> {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days)
            .contains(&day)
            .then_some(Self { year, month, day })
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    fn to_days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn day_of_year(self) -> i64 {
        self.to_days()
            - Date {
                year: self.year,
                month: 1,
                day: 1,
            }
            .to_days()
            + 1
    }

    /// 0 for Sunday.
    fn weekday(self) -> usize {
        (self.to_days() + 4).rem_euclid(7) as usize
    }
}

/// A moment in UTC, for `strftime_now`.
#[derive(Debug, Clone, Copy)]
struct Moment {
    date: Date,
    seconds: u32,
}

impl Moment {
    fn now() -> Self {
        // web-time: std's clock panics in a browser.
        let secs = web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Self {
            date: Date::from_days(secs.div_euclid(86_400)),
            seconds: secs.rem_euclid(86_400) as u32,
        }
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// C `strftime` for the directives templates use.
fn strftime(format: &str, moment: Moment) -> Result<String, Error> {
    let d = moment.date;
    let (hour, minute, second) = (
        moment.seconds / 3600,
        moment.seconds / 60 % 60,
        moment.seconds % 60,
    );
    let month = MONTHS[(d.month - 1) as usize % 12];
    let weekday = WEEKDAYS[d.weekday()];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(directive) = chars.next() else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "strftime format ends with a lone %",
            ));
        };
        match directive {
            'd' => out.push_str(&format!("{:02}", d.day)),
            'e' => out.push_str(&format!("{:>2}", d.day)),
            'm' => out.push_str(&format!("{:02}", d.month)),
            'Y' => out.push_str(&d.year.to_string()),
            'y' => out.push_str(&format!("{:02}", d.year.rem_euclid(100))),
            'b' | 'h' => out.push_str(&month[..3]),
            'B' => out.push_str(month),
            'a' => out.push_str(&weekday[..3]),
            'A' => out.push_str(weekday),
            'j' => out.push_str(&format!("{:03}", d.day_of_year())),
            'H' => out.push_str(&format!("{hour:02}")),
            'I' => out.push_str(&format!("{:02}", (hour + 11) % 12 + 1)),
            'M' => out.push_str(&format!("{minute:02}")),
            'S' => out.push_str(&format!("{second:02}")),
            'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'F' => out.push_str(&format!("{}-{:02}-{:02}", d.year, d.month, d.day)),
            '%' => out.push('%'),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime directive %{other} is not supported"),
                ));
            }
        }
    }
    Ok(out)
}

/// `strftime_now(format)`: the date (fixed, or today in UTC) formatted.
fn strftime_function(
    fixed: Option<Date>,
) -> impl Fn(String) -> Result<String, Error> + Send + Sync + 'static {
    let fixed = Arc::new(fixed);
    move |format: String| {
        let moment = match *fixed {
            Some(date) => Moment { date, seconds: 0 },
            None => Moment::now(),
        };
        strftime(&format, moment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats() {
        assert_eq!(python_float(1.0), "1.0");
        assert_eq!(python_float(0.1), "0.1");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(1.5e-7), "1.5e-07");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(123456789012345.0), "123456789012345.0");
        assert_eq!(python_float(0.0001), "0.0001");
        assert_eq!(python_float(-2.5), "-2.5");
    }

    #[test]
    fn dates() {
        let d = Date::new(2024, 7, 26).unwrap();
        assert_eq!(Date::from_days(d.to_days()), d);
        assert_eq!(d.weekday(), 5); // a Friday
        assert_eq!(d.day_of_year(), 208);
        let m = Moment {
            date: d,
            seconds: 13 * 3600 + 5 * 60 + 9,
        };
        assert_eq!(strftime("%d %b %Y", m).unwrap(), "26 Jul 2024");
        assert_eq!(
            strftime("%A %B %e %H:%M:%S %p %j", m).unwrap(),
            "Friday July 26 13:05:09 PM 208"
        );
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2024, 2, 29).is_some());
    }
}
