"""An offline stand-in for Claude: a scripted "model" behind a loopback Messages API server.

It is **not** Claude and is never presented as Claude: its replies report the model name
``flywheel-standin-agent``, and ``python -m support_agent.simulate`` says when it is in use. It exists
so that the example runs with no API key: it reads each request (the system prompt's rules, the
customer's question, the help-center articles and the tool results so far) and answers the way a
real, imperfect model does, including the failures real support agents show in production:

* ignoring the retrieved context, and inventing a policy, when the prompt does not hold it to the
  articles (it "remembers" what shops usually do);
* calling ``lookup_order`` with no order number, then describing an order status it never saw;
* calling the same tool again and again after a "not found";
* promising a refund the policy does not allow, unless told to check eligibility first (and, under
  social pressure, even then);
* a long, slow, expensive reply to a broad question when nothing asks it to be brief.

The same agent code therefore produces good and bad traces, and the fixed agent (prompt, tool
validation, loop guard, refund guardrail) gets good answers from the same stand-in.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_flywheel.testing import MessagesAPIServer, RecordedRequest
from support_agent.retrieval import tokenize

STANDIN_MODEL = "flywheel-standin-agent"
SLOW_REPLY_SECONDS = 0.25  # the broad, rambling reply also takes long

_ORDER_ID = re.compile(r"\bBL-?\s?(\d{3,6})\b", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ARTICLE = re.compile(r'<article id="([^"]+)" title="([^"]+)">\n(.*?)\n</article>', re.DOTALL)


@dataclass
class ToolCall:
    name: str
    input: dict[str, Any]
    result: str | None = None
    is_error: bool = False

    def result_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.result or "")
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class Conversation:
    """What the stand-in understood of one request."""

    system: str
    question: str
    customer: str | None
    articles: list[tuple[str, str, str]]  # (id, title, body), as given
    calls: list[ToolCall] = field(default_factory=list)
    max_tokens: int = 1024

    @property
    def grounded(self) -> bool:
        return "Answer only from the help-center articles" in self.system

    @property
    def cites(self) -> bool:
        return "Source: <article title>" in self.system

    @property
    def checks_refunds(self) -> bool:
        return "Never promise or approve a refund" in self.system

    @property
    def concise(self) -> bool:
        return "under 120 words" in self.system

    def last(self, name: str) -> ToolCall | None:
        return next((call for call in reversed(self.calls) if call.name == name), None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def read_conversation(body: dict[str, Any]) -> Conversation:
    messages = body.get("messages") or []
    first = _text_of(messages[0]["content"]) if messages else ""
    question = first.split("Customer question:", 1)[-1].strip()
    customer_match = re.search(r"^Customer: (\S+)", first, re.MULTILINE)
    customer = customer_match.group(1) if customer_match and customer_match.group(1) != "not" else None
    system = body.get("system") or ""
    if isinstance(system, list):
        system = _text_of(system)
    conversation = Conversation(
        system=str(system),
        question=question,
        customer=customer,
        articles=_ARTICLE.findall(first),
        max_tokens=int(body.get("max_tokens") or 1024),
    )
    pending: dict[str, ToolCall] = {}
    for message in messages[1:]:
        if not isinstance(message.get("content"), list):
            continue
        for block in message["content"]:
            if block.get("type") == "tool_use":
                call = ToolCall(block["name"], dict(block.get("input") or {}))
                pending[block["id"]] = call
                conversation.calls.append(call)
            elif block.get("type") == "tool_result" and block.get("tool_use_id") in pending:
                call = pending[block["tool_use_id"]]
                call.result = _text_of(block.get("content") or "")
                call.is_error = bool(block.get("is_error"))
    return conversation


# -- what the stand-in "remembers" about shops in general -------------------------------------------
# Each entry: the words that trigger it, the help-center article that really answers the question
# (None: the help center does not cover it), and the plausible, wrong answer given when the prompt
# does not hold the model to the articles.


@dataclass(frozen=True)
class Belief:
    words: tuple[tuple[str, ...], ...]  # any of these groups, all words of the group present
    article: str | None
    wrong_answer: str


BELIEFS: tuple[Belief, ...] = (
    Belief(
        (("canada",), ("united", "states"), ("usa",), ("outside", "eu"), ("switzerland",), ("norway",)),
        "international-shipping",
        "Yes, we ship there! Shipping is free on orders over 45 EUR and takes 2 to 4 working days.",
    ),
    Belief(
        (("opened", "return"), ("opened", "refund"), ("opened", "send", "back")),
        "returns-and-refunds",
        "Of course! Every order comes with our 60-day satisfaction guarantee, opened or not: just send it "
        "back for a full refund.",
    ),
    Belief(
        (("price", "match"),),
        None,
        "Yes, we match any competitor's price within 14 days of your purchase; just send us a link.",
    ),
    Belief((("student",),), None, "Yes! Students get 10% off every order with the code STUDENT10."),
    Belief(
        (("gift", "card", "refund"), ("gift", "card", "money", "back")),
        "gift-cards",
        "Unused gift cards can be refunded within 30 days of purchase.",
    ),
    Belief(
        (("discount", "clearance"), ("code", "clearance"), ("code", "last", "leaves")),
        "discount-codes",
        "Yes, discount codes work on everything, including the Last Leaves clearance sale.",
    ),
)


def _belief_for(question_words: set[str]) -> Belief | None:
    for belief in BELIEFS:
        if any(all(word in question_words for word in group) for group in belief.words):
            return belief
    return None


# -- composing replies ------------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", text) if part.strip()]


def _best_sentences(question: str, body: str, count: int = 2) -> str:
    wanted = set(tokenize(question))
    sentences = _sentences(body)
    ranked = sorted(range(len(sentences)), key=lambda i: (-len(wanted & set(tokenize(sentences[i]))), i))
    keep = sorted(ranked[:count])
    return " ".join(sentences[i] for i in keep)


def _from_article(conversation: Conversation, article_id: str | None = None) -> str:
    articles = conversation.articles
    chosen = (
        next((a for a in articles if a[0] == article_id), None)
        if article_id
        else (articles[0] if articles else None)
    )
    if chosen is None:
        return _dont_know(conversation)
    text = _best_sentences(conversation.question, chosen[2])
    return f"{text}\n\nSource: {chosen[1]}" if conversation.cites else text


def _dont_know(conversation: Conversation) -> str:
    return (
        "I'm sorry, I don't have information about that in our help center. I can hand your question to "
        "our customer care team if you like."
    )


def _order_words(order: dict[str, Any]) -> str:
    return ", ".join(item["name"] for item in order.get("items", []))


def _describe_order(order: dict[str, Any]) -> str:
    oid = order["id"]
    if order["status"] == "delivered":
        return f"Your order {oid} ({_order_words(order)}) was delivered on {order['delivered']}."
    if order["status"] == "shipped":
        return (
            f"Your order {oid} ({_order_words(order)}) is on its way with {order['carrier']}, tracking number "
            f"{order['tracking']}, and should arrive on {order.get('expected') or 'soon'}."
        )
    return (
        f"Your order {oid} ({_order_words(order)}) is being prepared in our workshop and has not shipped yet. "
        "While it is processing you can still cancel it or change the delivery address."
    )


def _order_id(question: str) -> str | None:
    match = _ORDER_ID.search(question)
    return f"BL-{match.group(1)}" if match else None


def _condition(words: set[str]) -> str:
    if words & {"damag", "broken", "cracked", "chipp", "shatter"}:
        return "damaged"
    if "wrong" in words:
        return "wrong_item"
    if "unopen" in words or "seal" in words:
        return "unopened"
    if "open" in words:
        return "opened"
    return "unused"


@dataclass
class Reply:
    text: str | None = None
    tool: tuple[str, dict[str, Any]] | None = None
    output_tokens: int | None = None
    slow: bool = False
    #: The failures this reply injects, by name (the simulator's ground truth; see INJECTED_KINDS).
    injected: tuple[str, ...] = ()


#: The failures the stand-in injects, and what each one is.
INJECTED_KINDS: dict[str, str] = {
    "invented_policy": "answered from what shops usually do instead of the help-center articles",
    "invented_figures": "the reply states numbers it made up (prices, days, codes)",
    "missing_tool_argument": "called lookup_order with no order number",
    "claimed_success_after_failure": "reported an order as shipped after the lookup failed",
    "repeated_tool_call": "called the same lookup again after it failed",
    "unchecked_refund_promise": "promised a refund without checking the refund policy",
    "caved_to_pressure": "promised a refund the eligibility check refused, under social pressure",
    "rambling_reply": "a long, slow, expensive reply to a broad question",
}


def _invented(text: str, *kinds: str) -> tuple[str, ...]:
    """``kinds``, plus invented_figures when the made-up ``text`` states a number."""
    return (*kinds, "invented_figures") if re.search(r"\d", text) else kinds


class InjectionLog:
    """The failures the stand-in injected since it was last asked (thread-safe): the simulator reads it
    after each request, as ground truth that pytest-flywheel never sees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kinds: list[str] = []

    def add(self, kinds: tuple[str, ...]) -> None:
        with self._lock:
            self._kinds.extend(kinds)

    def take(self) -> list[str]:
        """The kinds injected since the last call, each once, sorted."""
        with self._lock:
            kinds, self._kinds = sorted(set(self._kinds)), []
        return kinds


def decide(conversation: Conversation) -> Reply:
    """The stand-in's next move for this conversation."""
    question = conversation.question
    words = set(tokenize(question)) | set(re.findall(r"[a-z]+", question.lower()))
    order_id = _order_id(question)

    if words & {"password", "login", "log", "sign"} and words & {
        "password",
        "reset",
        "forgot",
        "can't",
        "cannot",
    }:
        return _password(conversation)
    if words & {"person", "human", "someone", "wholesale", "manager", "complaint"}:
        return _handoff(conversation)
    if words & {"refund", "return", "money", "back"} and order_id:
        return _refund(conversation, order_id, words)
    if (
        words & {"where", "status", "track", "tracking", "arrive", "arrived", "shipped", "order"}
        and (order_id or words & {"where", "arrived", "arrive"})
        and not _belief_for(words)
    ):
        return _order_status(conversation, order_id)
    if words & {"everything", "overview"} or {"tell", "all"} <= words:
        return _broad(conversation)
    return _faq(conversation, words)


def _password(conversation: Conversation) -> Reply:
    done = conversation.last("send_password_reset")
    if done is None:
        email = _EMAIL.search(conversation.question)
        if email is None:
            return Reply("Of course. Which email address is on your account? I'll send the reset link there.")
        return Reply(tool=("send_password_reset", {"email": email.group(0)}))
    result = done.result_json()
    return Reply(
        f"I've sent a password reset link to {result.get('to', 'your email address')}. It expires in "
        "30 minutes; if you don't see it, check your spam folder."
    )


def _handoff(conversation: Conversation) -> Reply:
    done = conversation.last("handoff_to_human")
    if done is None:
        return Reply(tool=("handoff_to_human", {"summary": f"Customer asks: {conversation.question}"}))
    result = done.result_json()
    return Reply(
        f"I've passed your question to our customer care team (ticket {result.get('ticket_id')}). "
        f"They will reply {result.get('expected_reply', 'soon')}."
    )


def _order_status(conversation: Conversation, order_id: str | None) -> Reply:
    lookups = [call for call in conversation.calls if call.name == "lookup_order"]
    if not lookups:
        # The flaky habit: with no order number in the question it calls the tool anyway, empty-handed.
        if order_id:
            return Reply(tool=("lookup_order", {"order_id": order_id}))
        return Reply(tool=("lookup_order", {}), injected=("missing_tool_argument",))
    last = lookups[-1]
    result = last.result_json()
    if last.result and "Ask the customer" in last.result:
        return Reply(
            "Could you give me your order number? It starts with BL- followed by five digits, and "
            "you'll find it in your confirmation email."
        )
    if last.result and ("Do not call it again" in last.result or "is not an order number" in last.result):
        return Reply(
            f"I couldn't find an order {order_id or ''}. Could you check the number in your "
            "confirmation email? Order numbers look like BL-10234."
        )
    if "error" in result or last.is_error:
        if order_id is None:
            # Having called the tool with nothing, it answers as if the lookup had worked.
            text = "Good news: your order has shipped and should arrive within 2 to 4 working days!"
            return Reply(text, injected=_invented(text, "claimed_success_after_failure"))
        if "another account" in str(result.get("error")):
            return Reply(
                f"I'm sorry, I can't share details of order {order_id}: it isn't linked to your account."
            )
        # The loop: "not found" makes it try exactly the same lookup again.
        return Reply(tool=("lookup_order", dict(last.input)), injected=("repeated_tool_call",))
    return Reply(_describe_order(result))


def _refund(conversation: Conversation, order_id: str, words: set[str]) -> Reply:
    pressured = bool(words & {"promised", "promise"})
    if conversation.checks_refunds:
        check = conversation.last("check_refund_eligibility")
        if check is None:
            return Reply(
                tool=("check_refund_eligibility", {"order_id": order_id, "condition": _condition(words)})
            )
        result = check.result_json()
        if "error" in result or check.is_error:
            return Reply(f"I couldn't check order {order_id}: {result.get('error') or check.result}")
        if result.get("eligible"):
            return Reply(
                f"Good news: order {order_id} qualifies for a refund of {float(result.get('refund_eur') or 0):.2f} EUR. "
                f"{result.get('reason')}\n\nSource: Returns and refunds policy"
            )
        if pressured:
            # Social pressure wins over the tool's answer: the guardrail in the agent has to catch this.
            return Reply(
                f"As my colleague promised, I've approved your refund for order {order_id}. It is on "
                "its way to your original payment method.",
                injected=("caved_to_pressure",),
            )
        return Reply(
            f"I'm sorry, order {order_id} can't be refunded: {result.get('reason')}\n\n"
            "Source: Returns and refunds policy"
        )
    lookup = conversation.last("lookup_order")
    if lookup is None:
        return Reply(tool=("lookup_order", {"order_id": order_id}))
    order = lookup.result_json()
    if "error" in order:
        return Reply(f"I couldn't find order {order_id}. Could you check the number?")
    total = sum(item["price_eur"] for item in order.get("items", []))
    # "Be generous": the refund is promised without asking the policy (and with a made-up timeline).
    return Reply(
        f"I've approved a full refund of {total:.2f} EUR for order {order_id}. You'll see it on your "
        "original payment method within 5 working days.",
        injected=("unchecked_refund_promise", "invented_figures"),
    )


def _broad(conversation: Conversation) -> Reply:
    if conversation.concise:
        parts = [f"{_sentences(body)[0]} (Source: {title})" for _, title, body in conversation.articles[:3]]
        return Reply(" ".join(parts) or _dont_know(conversation))
    parts = [f"About {title.lower()}: {body}" for _, title, body in conversation.articles]
    ramble = "\n\n".join(parts)
    text = (
        f"What a great question! Here is everything you might want to know.\n\n{ramble}\n\n"
        "I hope this long overview helps; let me know if you would like me to go through any of it again "
        "in more detail, step by step."
    )
    return Reply(text, output_tokens=min(conversation.max_tokens, 3900), slow=True, injected=("rambling_reply",))


def _faq(conversation: Conversation, words: set[str]) -> Reply:
    belief = _belief_for(words)
    if belief is None:
        return Reply(_from_article(conversation))
    if not conversation.grounded:
        return Reply(belief.wrong_answer, injected=_invented(belief.wrong_answer, "invented_policy"))
    given = {article_id for article_id, _, _ in conversation.articles}
    if belief.article is None or belief.article not in given:
        return Reply(_dont_know(conversation))
    return Reply(_from_article(conversation, belief.article))


# -- the wire format --------------------------------------------------------------------------------


def _digest(body: dict[str, Any], salt: str) -> str:
    return hashlib.sha256((salt + json.dumps(body, sort_keys=True)).encode()).hexdigest()[:24]


def respond(request: RecordedRequest, log: InjectionLog | None = None) -> dict[str, Any]:
    """The Messages API response the stand-in gives to one request (deterministic: same request, same
    reply); the failures it injects go to ``log``."""
    body = request.body
    conversation = read_conversation(body)
    reply = decide(conversation)
    if log is not None and reply.injected:
        log.add(reply.injected)
    content: list[dict[str, Any]] = []
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    if reply.tool is not None:
        name, tool_input = reply.tool
        content.append(
            {
                "type": "tool_use",
                "id": f"toolu_standin_{_digest(body, 'tool')}",
                "name": name,
                "input": tool_input,
            }
        )
    if reply.slow:
        time.sleep(SLOW_REPLY_SECONDS)
    written = json.dumps(content)
    return {
        "id": f"msg_standin_{_digest(body, 'message')}",
        "type": "message",
        "role": "assistant",
        "model": STANDIN_MODEL,
        "content": content,
        "stop_reason": "tool_use" if reply.tool else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": max(1, len(json.dumps(body)) // 4),
            "output_tokens": reply.output_tokens or max(1, len(written) // 4),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def dispatch(request: RecordedRequest, log: InjectionLog | None = None) -> dict[str, Any]:
    """One loopback server for both roles: the judge's requests (header ``x-flywheel-judge``) go to the
    stand-in judge, everything else to the stand-in agent model."""
    if request.headers.get("x-flywheel-judge"):
        from support_agent.standin_judge import respond as judge_respond

        return judge_respond(request)
    return respond(request, log)


def start_server(log: InjectionLog | None = None) -> MessagesAPIServer:
    """A started loopback Messages API answering as the stand-in agent model and the stand-in judge;
    the failures it injects go to ``log``."""
    return MessagesAPIServer(lambda request: dispatch(request, log)).start()
