"""Scenario pieces of the multi-turn synthetic task for BFCL's app classes: MessageAPI, TicketAPI,
TwitterAPI and MathAPI (the file system and the car are in `funcall.data.multi_turn_scenarios`).

Each class has a random initial state (``*_config``: users, inboxes, tickets, tweets drawn fresh,
never BFCL's) and intents: functions ``(writer, rng) -> bool`` that open one user turn on an
`funcall.data.multi_turn_writer.TaskWriter` and write its steps, or return False (touching nothing)
when the state does not allow them. Several wordings per intent; values are drawn. Unlike fixed
templates, a value the user does not say (a user id, a ticket id, a tweet id, a computed number)
is taken from the result of an earlier call, in this turn or an earlier one: ``writer.world`` keeps
what earlier turns learnt. Intents that can leave one value out pass ``vague=`` to `TaskWriter.user`
(the miss_param material).
"""
from __future__ import annotations

import random
import string

from funcall.data.multi_turn_writer import TaskWriter
from funcall.data.multi_turn_writer import render_call as call

PEOPLE = ["Aiden", "Beatrix", "Cyrus", "Delia", "Elio", "Farah", "Gideon", "Hana", "Ivo", "Juno", "Kasper",
          "Leona", "Milo", "Nadia", "Otto", "Priya", "Rafael", "Selma", "Tobias", "Ursula", "Vera", "Wyatt",
          "Ximena", "Yusuf", "Zelda", "Anouk", "Bruno", "Cleo", "Dario", "Esme"]
MESSAGES = ["the slides are in the shared drive", "lunch moved to half past one", "can you review my draft",
            "the build is green again", "I pushed the fix to staging", "please bring the adapter",
            "standup is cancelled today", "the client signed off", "see the notes from Monday",
            "I'll be in the lab all afternoon", "parking lot B is closed", "budget numbers look fine"]
TICKET_TITLES = ["VPN drops every hour", "Monitor flickers", "Cannot print from tablet", "Email sync stuck",
                 "Badge does not open door", "Laptop fan noisy", "Password reset loop", "Calendar invites missing",
                 "Projector in room 4 dead", "Shared drive read-only", "Wifi slow on floor 3", "Docking station resets"]
TICKET_NOTES = ["started after the update", "happens every morning", "blocks the whole team",
                "only on the guest network", "tried a reboot already", "needs a replacement part"]
RESOLUTIONS = ["replaced the cable", "reinstalled the driver", "reset the profile", "updated the firmware",
               "moved to a new port", "escalated and fixed by vendor"]
TWEETS = ["Morning run done, eleven kilometres", "New blog post on garden compost", "Anyone tried the ramen place downtown",
          "Finally fixed my bike brakes", "Reading a great book on glaciers", "Our choir concert is on Friday",
          "Testing a sourdough recipe tonight", "Spotted an owl in the park", "Board game night was chaos"]
TAGS = ["#weekend", "#fitness", "#food", "#books", "#nature", "#music", "#diy", "#city", "#fun"]
HANDLES = ["maplejay", "quietfox", "rivet_ro", "sunny_paz", "kilnmaker", "tidewalker", "bytebard", "oakroot",
           "polar_pip", "lumen_lu", "saltmarsh", "fernhill"]


def _password(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(rng.randint(7, 10))) + rng.choice("!#$")


# -- MessageAPI -----------------------------------------------------------------------------------
def message_config(rng: random.Random, logged_in: bool) -> tuple[dict, dict]:
    names = rng.sample(PEOPLE, rng.randint(4, 6))
    user_map = {n: f"USR{k + 1:03d}" for k, n in enumerate(names)}
    others = list(user_map.values())[1:]
    inbox = [{rng.choice(others): rng.choice(MESSAGES)} for _ in range(rng.randint(1, 4))]
    config = {"random_seed": rng.randint(1, 10**6), "user_count": len(names), "user_map": user_map,
              "inbox": inbox, "message_count": len(inbox)}
    if logged_in:
        config["current_user"] = user_map[names[0]]
    world = {"me": names[0], "users": dict(user_map), "ids": {}, "msg_in": logged_in,
             "receivers": [next(iter(m)) for m in inbox]}  # one entry per message in the inbox
    return config, world


def _user_id(writer: TaskWriter, name: str, why: str) -> str:
    """The id of ``name``: looked up with get_user_id unless an earlier turn did."""
    w = writer.world["msg"]
    if name not in w["ids"]:
        w["ids"][name] = writer.step(why, call("get_user_id", user=name))[0]["user_id"]
    return w["ids"][name]


def m_login(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["msg"]
    if w["msg_in"]:
        return False
    me = w["me"]
    if rng.random() < 0.5:
        writer.user([f"Log me into the messaging app, I'm {me}", f"Sign in to messages as {me}",
                 f"I'm {me}; please log me in to the message service"])
        uid = _user_id(writer, me, f"To log in I need {me}'s user id, which I can look up.")
        writer.step(f"The lookup gave {uid}; I log in with it.", call("message_login", user_id=uid))
    else:
        uid = w["users"][me]
        writer.user([f"Log me into messaging with user id {uid}", f"Sign in to the message app, my id is {uid}"])
        writer.step(f"The user gave the id {uid}.", call("message_login", user_id=uid))
    w["msg_in"] = True
    return True


def m_send(writer: TaskWriter, rng: random.Random, text: str | None = None, what: str = "") -> bool:
    """Send a drawn message (or ``text``, a value from an earlier result, described by ``what``)."""
    w = writer.world["msg"]
    if not w["msg_in"]:
        return False
    name = rng.choice([n for n in w["users"] if n != w["me"]])
    if text is None:
        msg = rng.choice(MESSAGES)
        writer.user([f"Send {name} the message '{msg}'", f"Message {name}: '{msg}'", f"Tell {name} '{msg}' on the messaging app",
                 f"Please text {name} saying '{msg}'"],
                vague=([f"Send a message to {name}", f"I need to message {name}", f"Drop {name} a note on the messaging app"],
                       [f"The message is '{msg}'", f"Write '{msg}'", f"Make it say '{msg}'"],
                       f"What should the message to {name} say?"))
    else:
        msg = text
        writer.user([f"Send {what} to {name} over the messaging app", f"Message {what} to {name}", f"Pass {what} on to {name} by message"])
    uid = _user_id(writer, name, f"send_message needs {name}'s user id, which I look up first.")
    writer.step(f"{name} is {uid}; I send the message.", call("send_message", receiver_id=uid, message=msg))
    w["receivers"].append(uid)
    return True


def m_other(writer: TaskWriter, rng: random.Random) -> bool:
    """Viewing, searching, stats, deleting, adding a contact and messaging them."""
    w = writer.world["msg"]
    if not w["msg_in"]:
        return False
    pick = rng.choice(["view", "search", "stats", "delete", "add"])
    if pick == "view":
        writer.user(["Show me every message I've sent", "List the messages I have sent so far", "What messages did I send?"])
        writer.step("The user wants the sent messages.", call("view_messages_sent"))
    elif pick == "stats":
        writer.user(["Give me my messaging statistics", "How many messages and contacts do I have?", "Show my message stats"])
        writer.step("Statistics come from get_message_stats.", call("get_message_stats"))
    elif pick == "search":
        word = rng.choice([wd for m in writer.config["MessageAPI"]["inbox"] for wd in next(iter(m.values())).split() if len(wd) > 4] or ["fix"])
        writer.user([f"Search my messages for '{word}'", f"Find any message mentioning '{word}'", f"Which messages contain '{word}'?"])
        writer.step(f"The keyword is '{word}'.", call("search_messages", keyword=word))
    elif pick == "delete":
        names = [n for n, u in w["users"].items() if u in w["receivers"]]
        if not names:
            return False
        name = rng.choice(names)
        writer.user([f"Delete the last message I sent to {name}", f"Remove my latest message to {name}",
                 f"Take back the most recent message to {name}"])
        uid = _user_id(writer, name, f"delete_message needs {name}'s user id.")
        writer.step(f"{name} is {uid}.", call("delete_message", receiver_id=uid))
        w["receivers"].remove(uid)
    else:
        new = rng.choice([p for p in PEOPLE if p not in w["users"]])
        msg = rng.choice(MESSAGES)
        writer.user([f"Add {new} as a contact and send them '{msg}'", f"Save {new} to my contacts, then message them '{msg}'"])
        uid = writer.step(f"{new} must be added first; add_contact returns the new id.", call("add_contact", user_name=new))[0]["user_id"]
        w["users"][new], w["ids"][new] = uid, uid
        writer.step(f"{new} got the id {uid}; now I send the message.", call("send_message", receiver_id=uid, message=msg))
        w["receivers"].append(uid)
    return True


# -- TicketAPI ------------------------------------------------------------------------------------
def ticket_config(rng: random.Random, logged_in: bool) -> tuple[dict, dict]:
    user, password = rng.choice(HANDLES), _password(rng)
    ids = sorted(rng.sample(range(100, 9000), rng.randint(2, 5)))
    titles = rng.sample(TICKET_TITLES, len(ids))
    queue = [{"id": i, "title": t, "description": rng.choice(TICKET_NOTES),
              "status": rng.choice(["Open", "Open", "In Progress", "Resolved"]), "priority": rng.randint(1, 5),
              "created_by": user if k == 0 or rng.random() < 0.7 else rng.choice(HANDLES)}
             for k, (i, t) in enumerate(zip(ids, titles))]
    config = {"ticket_queue": queue, "ticket_counter": ids[-1] + rng.randint(1, 50)}
    if logged_in:
        config["current_user"] = user
    world = {"user": user, "password": password, "in": logged_in, "tickets": {t["title"]: dict(t) for t in queue},
             "last": None, "known": set()}
    return config, world


def t_login(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["ticket"]
    if w["in"]:
        return False
    u, p = w["user"], w["password"]
    writer.user([f"Log me into the ticket system: username {u}, password {p}", f"Sign in to support tickets as {u} with password {p}",
             f"My ticketing login is {u} / {p}, please log in"])
    writer.step(f"The credentials are {u} and {p}.", call("ticket_login", username=u, password=p))
    w["in"] = True
    return True


def t_create(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["ticket"]
    if not w["in"]:
        return False
    title = rng.choice([t for t in TICKET_TITLES if t not in w["tickets"]])
    note, prio = rng.choice(TICKET_NOTES), rng.randint(1, 5)
    writer.user([f"Open a ticket titled '{title}' with the description '{note}' and priority {prio}",
             f"File a support ticket '{title}', priority {prio}, description '{note}'",
             f"Create a priority {prio} ticket called '{title}' saying '{note}'"],
            vague=([f"Open a priority {prio} ticket with the description '{note}'", f"File a ticket saying '{note}', priority {prio}"],
                   [f"Title it '{title}'", f"The title is '{title}'", f"Call the ticket '{title}'"],
                   "What title should the ticket have?"))
    ticket = writer.step(f"Title '{title}', description '{note}', priority {prio}.",
                     call("create_ticket", title=title, description=note, priority=prio))[0]
    w["tickets"][title] = dict(ticket)
    w["last"] = ticket["id"]
    return True


def t_act(writer: TaskWriter, rng: random.Random) -> bool:
    """Close, resolve or re-prioritise one of the user's tickets named by its title (id looked up),
    or the ticket opened earlier (id from that turn's result)."""
    w = writer.world["ticket"]
    if not w["in"]:
        return False
    mine = [t for t in w["tickets"].values() if t["created_by"] == w["user"] and t["status"] not in ("Closed", "Resolved")]
    if not mine:
        return False
    last = next((t for t in mine if t["id"] == w["last"]), None)
    ticket = last if last and rng.random() < 0.6 else rng.choice(mine)
    title = ticket["title"]
    act = rng.choice(["close", "resolve", "priority"])
    named = "the ticket you just opened" if ticket is last else f"my '{title}' ticket"
    prio = rng.choice([p for p in range(1, 6) if p != ticket["priority"]])
    note = rng.choice(RESOLUTIONS)
    texts = {"close": [f"Close {named}", f"Please close {named} now", f"{named[0].upper() + named[1:]} can be closed"],
             "resolve": [f"Mark {named} as resolved: '{note}'", f"Resolve {named} with the note '{note}'"],
             "priority": [f"Change the priority of {named} to {prio}", f"Set {named} to priority {prio}"]}
    vague = None
    if act == "resolve":
        vague = ([f"Resolve {named}", f"Mark {named} as resolved"], [f"The resolution is '{note}'", f"Write '{note}' as the resolution"],
                 "What resolution should I record?")
    writer.user(texts[act], vague=vague)
    tid = ticket["id"]
    if ticket is last:
        why = f"The ticket opened earlier got id {tid}."
    elif tid in w["known"]:
        why = f"An earlier lookup showed '{title}' has id {tid}."
    else:
        writer.step(f"I need the id of '{title}'; the user's tickets list it.", call("get_user_tickets"))
        w["known"].update(t["id"] for t in w["tickets"].values() if t["created_by"] == w["user"])
        why = f"The list shows '{title}' has id {tid}."
    if act == "close":
        writer.step(why, call("close_ticket", ticket_id=tid))
        ticket["status"] = "Closed"
    elif act == "resolve":
        writer.step(why, call("resolve_ticket", ticket_id=tid, resolution=note))
        ticket["status"] = "Resolved"
    else:
        writer.step(why, call("edit_ticket", ticket_id=tid, updates={"priority": prio}))
        ticket["priority"] = prio
    return True


# -- TwitterAPI -----------------------------------------------------------------------------------
def twitter_config(rng: random.Random, logged_in: bool) -> tuple[dict, dict]:
    me, password = rng.choice(HANDLES), _password(rng)
    texts = rng.sample(TWEETS, rng.randint(1, 4))
    tweets = {str(k): {"id": k, "username": rng.choice([me] + HANDLES), "content": t, "tags": rng.sample(TAGS, rng.randint(0, 2)),
                       "mentions": []} for k, t in enumerate(texts)}
    following = rng.sample([h for h in HANDLES if h != me], rng.randint(1, 3))
    config = {"username": me, "password": password, "authenticated": logged_in, "tweets": tweets, "comments": {},
              "retweets": {}, "following_list": following, "tweet_counter": len(tweets)}
    world = {"me": me, "password": password, "in": logged_in, "following": list(following), "last": None,
             "tweets": dict(tweets)}
    return config, world


def tw_login(writer: TaskWriter, rng: random.Random) -> bool:
    w = writer.world["twitter"]
    if w["in"]:
        return False
    u, p = w["me"], w["password"]
    writer.user([f"Sign in to Twitter as {u}, password {p}", f"Log into my Twitter account {u} with password {p}"])
    writer.step(f"Username {u}, password {p}.", call("authenticate_twitter", username=u, password=p))
    w["in"] = True
    return True


def tw_post(writer: TaskWriter, rng: random.Random, content: str | None = None, what: str = "") -> bool:
    w = writer.world["twitter"]
    if not w["in"]:
        return False
    tags = rng.sample(TAGS, rng.randint(0, 2))
    tagged = f" with the tags {' and '.join(tags)}" if tags else ""
    if content is None:
        content = rng.choice(TWEETS) + rng.choice(["", "!", " :)", " again"])
        writer.user([f"Tweet '{content}'{tagged}", f"Post '{content}' on Twitter{tagged}", f"Share a tweet saying '{content}'{tagged}"],
                vague=([f"Post a tweet for me{tagged}", f"I want to tweet something{tagged}"],
                       [f"It should say '{content}'", f"The text is '{content}'"], "What should the tweet say?"))
    else:
        writer.user([f"Tweet {what}{tagged}", f"Post {what} on Twitter{tagged}", f"Share {what} in a tweet{tagged}"])
    tweet = writer.step(f"The tweet text is '{content}', tags {tags}.", call("post_tweet", content=content, tags=tags, mentions=[]))[0]
    w["last"] = tweet["id"]
    w["tweets"][str(tweet["id"])] = tweet
    return True


def tw_other(writer: TaskWriter, rng: random.Random) -> bool:
    """Comment on the tweet posted earlier, retweet one found by a keyword, follow or unfollow."""
    w = writer.world["twitter"]
    if not w["in"]:
        return False
    pick = rng.choice(["comment", "retweet", "follow", "unfollow"])
    if pick == "comment" and w["last"] is not None:
        text = rng.choice(["Photos coming soon", "Thanks everyone", "More on this tomorrow", "Who is in?"])
        writer.user([f"Comment '{text}' on the tweet you just posted", f"Add the comment '{text}' under that new tweet"])
        writer.step(f"The tweet posted earlier has id {w['last']}.", call("comment", tweet_id=w["last"], comment_content=text))
    elif pick == "retweet":
        contents = {t["id"]: t["content"].lower() for t in w["tweets"].values()}
        candidates = {wd.strip("!:)?,.") for c in contents.values() for wd in c.split()}
        unique = sorted(wd for wd in candidates if len(wd) > 4 and sum(wd in c for c in contents.values()) == 1)
        if not unique:
            return False
        word = rng.choice(unique)
        writer.user([f"Find the tweet about '{word}' and retweet it", f"Retweet the post that mentions '{word}'"])
        writer.step(f"I search for '{word}' to get the tweet's id.", call("search_tweets", keyword=word))
        tid = next(i for i, c in contents.items() if word in c)
        writer.step(f"The search found tweet {tid}.", call("retweet", tweet_id=tid))
    elif pick == "follow":
        who = rng.choice([h for h in HANDLES if h not in w["following"] and h != w["me"]])
        writer.user([f"Follow {who} on Twitter", f"Start following {who}"])
        writer.step(f"The account to follow is {who}.", call("follow_user", username_to_follow=who))
        w["following"].append(who)
    elif pick == "unfollow" and w["following"]:
        who = rng.choice(w["following"])
        writer.user([f"Unfollow {who}", f"Stop following {who} on Twitter"])
        writer.step(f"The account to drop is {who}.", call("unfollow_user", username_to_unfollow=who))
        w["following"].remove(who)
    else:
        return False
    return True


# -- MathAPI (stateless: numbers carried from one result to the next) ----------------------------
def _numbers(rng: random.Random) -> list:
    return [rng.choice([rng.randint(1, 300), round(rng.uniform(1, 300), rng.choice([1, 2]))]) for _ in range(rng.randint(3, 6))]


def _say(numbers: list) -> str:
    return ", ".join(str(n) for n in numbers[:-1]) + f" and {numbers[-1]}"


def math_first(writer: TaskWriter, rng: random.Random) -> bool:
    nums = _numbers(rng)
    pick = rng.choice(["mean", "sum_values", "max_value", "power"])
    if pick == "power":  # (not square_root: it sets the process-wide decimal precision)
        b, e = rng.randint(2, 30), rng.randint(2, 4)
        writer.user([f"What is {b} to the power of {e}?", f"Raise {b} to the {e}th power"],
                vague=([f"Raise {b} to a power for me", f"I need a power of {b}"],
                       [f"The exponent is {e}", f"Use {e} as the exponent"], f"Which power of {b}?"))
        result = writer.step(f"base={b}, exponent={e}.", call("power", base=b, exponent=e))[0]
    else:
        said = {"mean": ["What's the average of {}?", "Compute the mean of {}"],
                "sum_values": ["Add up {}", "What do {} sum to?"],
                "max_value": ["Which is the largest of {}?", "Find the maximum of {}"]}[pick]
        writer.user([s.format(_say(nums)) for s in said])
        result = writer.step(f"The numbers are {nums}.", call(pick, numbers=nums))[0]
    writer.world["math"] = {"last": result["result"]}
    return True


def math_next(writer: TaskWriter, rng: random.Random) -> bool:
    """Work on the previous result (a value the user never says)."""
    w = writer.world.get("math")
    if not w:
        return False
    last = w["last"]
    pick = rng.choice(["round", "multiply", "percentage"])
    if pick == "round":
        d = rng.randint(0, 3)
        writer.user([f"Round that to {d} decimal places", f"Now round the result to {d} decimals"])
        result = writer.step(f"The previous result is {last}.", call("round_number", number=last, decimal_places=d))[0]
    elif pick == "multiply":
        k = rng.randint(2, 40)
        writer.user([f"Multiply that by {k}", f"Take the result times {k}"])
        result = writer.step(f"The previous result is {last}.", call("multiply", a=last, b=k))[0]
    else:
        whole = rng.randint(int(abs(last)) + 10, int(abs(last)) * 4 + 50)
        writer.user([f"What percentage of {whole} is that?", f"Express the result as a percent of {whole}"])
        result = writer.step(f"The previous result {last} is the part.", call("percentage", part=last, whole=whole))[0]
    w["last"] = result["result"]
    return True
