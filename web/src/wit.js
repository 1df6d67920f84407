// Conversions between the two shapes of Weft's WIT types (wit/types.wit):
//
// - jco's, in which the transpiled components hand them over: records with
//   camelCase fields, variants as `{ tag: 'tool-call', val }`, enums as
//   kebab-case strings, u64 as BigInt, `option<T>` as `T | undefined`;
// - serde's, in which weft-web (the model layer, in Rust) reads and writes
//   them as JSON: snake_case fields, externally tagged enums
//   (`{ "tool_call": {...} }`, unit cases as `"auto"`).
//
// Each function converts one WIT type, so a field cannot be taken for
// another's type.

const snake = (kebab) => kebab.replaceAll('-', '_');
const kebab = (snakeCase) => snakeCase.replaceAll('_', '-');

/** Drops `undefined` fields, which serde would read as `null`. */
function defined(record) {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined));
}

/** A WIT variant case as serde's externally tagged enum. */
function taggedToSerde(variant, convert = (v) => v) {
  return variant.val === undefined ? snake(variant.tag) : { [snake(variant.tag)]: convert(variant.val) };
}

/** A serde externally tagged enum as a WIT variant case. */
function taggedToWit(value, convert = (v) => v) {
  if (typeof value === 'string') return { tag: kebab(value) };
  const [[tag, val]] = Object.entries(value);
  return { tag: kebab(tag), val: convert(val) };
}

// --- jco -> serde (requests going out to the model) ---

function partToSerde(part) {
  switch (part.tag) {
    case 'text':
      return { text: part.val };
    case 'reasoning':
      return { reasoning: defined({ ...part.val }) };
    case 'tool-call':
      return { tool_call: { id: part.val.id, name: part.val.name, arguments: part.val.arguments } };
    case 'tool-result':
      return {
        tool_result: { call_id: part.val.callId, content: part.val.content, is_error: part.val.isError },
      };
    default:
      throw new TypeError(`unknown message part \`${part.tag}\``);
  }
}

/** A WIT `message` as serde JSON. */
export function messageToSerde(message) {
  return { role: message.role, parts: message.parts.map(partToSerde) };
}

function toolSpecToSerde(spec) {
  return defined({
    name: spec.name,
    description: spec.description,
    input_schema: spec.inputSchema,
    output_schema: spec.outputSchema,
  });
}

function samplingToSerde(s) {
  return defined({
    temperature: s.temperature,
    top_p: s.topP,
    top_k: s.topK,
    seed: s.seed === undefined ? undefined : Number(s.seed),
    frequency_penalty: s.frequencyPenalty,
    presence_penalty: s.presencePenalty,
  });
}

/** A WIT `chat-request` as serde JSON (`weft_model::ChatRequest`). */
export function chatRequestToSerde(r) {
  return defined({
    messages: r.messages.map(messageToSerde),
    tools: r.tools.map(toolSpecToSerde),
    tool_choice: taggedToSerde(r.toolChoice),
    response_format: taggedToSerde(r.responseFormat, (f) => ({ name: f.name, schema: f.schema, strict: f.strict })),
    sampling: samplingToSerde(r.sampling),
    max_output_tokens: r.maxOutputTokens,
    stop: r.stop,
    provider_options: r.providerOptions,
  });
}

// --- serde -> jco (answers coming back to the agent) ---

function partToWit(part) {
  return taggedToWit(part, (val) => {
    if (typeof val === 'string') return val;
    if ('call_id' in val) return { callId: val.call_id, content: val.content, isError: Boolean(val.is_error) };
    if ('arguments' in val) return { id: val.id, name: val.name, arguments: val.arguments };
    return { text: val.text ?? '', signature: val.signature, provider: val.provider, redacted: Boolean(val.redacted) };
  });
}

/** A serde message as a WIT `message`. */
export function messageToWit(message) {
  return { role: message.role, parts: (message.parts ?? []).map(partToWit) };
}

/** Serde `Usage` as a WIT `usage` (u64 fields are BigInt). */
export function usageToWit(u = {}) {
  return {
    inputTokens: BigInt(u.input_tokens ?? 0),
    outputTokens: BigInt(u.output_tokens ?? 0),
    cacheReadTokens: BigInt(u.cache_read_tokens ?? 0),
    cacheWriteTokens: BigInt(u.cache_write_tokens ?? 0),
    reasoningTokens: BigInt(u.reasoning_tokens ?? 0),
  };
}

/** A serde `ChatResponse` as a WIT `chat-response`. */
export function chatResponseToWit(r) {
  return {
    message: messageToWit(r.message),
    finishReason: kebab(r.finish_reason),
    usage: usageToWit(r.usage),
    model: r.model ?? '',
  };
}

/** A serde `StreamEvent` as a WIT `stream-event`. */
export function streamEventToWit(event) {
  return taggedToWit(event, (val) => {
    if (typeof val === 'string') return val;
    if ('message' in val) return chatResponseToWit(val);
    return { id: val.id, name: val.name, arguments: val.arguments };
  });
}

/** A serde `ModelError` as a WIT `model-error`. */
export function modelErrorToWit(error) {
  return taggedToWit(error, (val) => {
    if (typeof val === 'string') return val;
    if ('status' in val) return { status: val.status, body: val.body ?? '' };
    return {
      retryAfterMs: val.retry_after_ms === undefined || val.retry_after_ms === null ? undefined : BigInt(val.retry_after_ms),
      message: val.message ?? '',
    };
  });
}

/** A serde `Capabilities` as a WIT `capabilities`. */
export function capabilitiesToWit(c) {
  return {
    provider: c.provider,
    model: c.model,
    tools: c.tools,
    parallelToolCalls: c.parallel_tool_calls,
    streaming: c.streaming,
    jsonObject: c.json_object,
    jsonSchema: c.json_schema,
    reasoning: c.reasoning,
    contextWindow: c.context_window ?? undefined,
    maxOutputTokens: c.max_output_tokens ?? undefined,
  };
}
