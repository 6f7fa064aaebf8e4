# sspr-bot — English. Every user-visible text lives here and in nl/main.ftl.

## Start (steps 1–3)
welcome = Hello! I can help you set a new password or unlock your locked account.
ask-login = What is your login name? For example j.k.devries@bedrijf.nl
login-invalid = That does not look like a login name. A login name looks like j.k.devries@bedrijf.nl — please try again.
ask-reason = How can I help you with { $login }?
button-reason-forgot = I forgot my password
button-reason-locked = My account is locked (I know my password)
one-moment = One moment, looking up your account…

## Choosing a verification method (step 4)
choose-method = Verification step { $step } of { $total }: how would you like to confirm it is you?
method-passed = Done! Now choose a second, different method.
both-passed = Both verification steps passed.
method-email = E-mail my private (alternate) address { $hint }
method-sms = Text my phone { $hint }
method-call = Call my mobile phone { $hint }
method-questions = Answer my security questions
method-push = Approve a notification in the Authenticator app
method-totp = Enter a code from the Authenticator app
button-no-phone = I don't have my phone
button-with-phone = I do have my phone
not-enough-methods = With the methods registered for your account you cannot recover it yourself: two different methods are needed.
no-phone-needs-email-and-questions = Without a phone it only works with your private e-mail address and your security questions.

## E-mail (step 5)
code-sent-email = We sent an e-mail with a verification code to your private e-mail address { $target } (not to your work address).
enter-code = Type the six-digit verification code here. It is valid for 10 minutes.
code-format = A verification code is exactly six digits. Please try again.
button-resend = Send a new code

## Text message and call (steps 6 and 7)
enter-phone-sms = To protect your account, type the full number of your mobile phone ({ $masked }). You will then get a text message with a verification code.
enter-phone-call = To protect your account, type the full number of your mobile phone ({ $masked }). We will then call you.
phone-invalid = That is not a valid phone number. Type it like 0612345678 or +31612345678.
phone-mismatch = That number does not match the number registered for your account.
code-sent-sms = We sent a text message with a verification code to { $target }.
call-placed = We are calling you now on { $masked }. Answer and press # to confirm it is you.
button-call-again = Call me again

## Security questions (step 8)
question-prompt = Question { $number } of { $total }:
question-birth-city = In which city were you born?
question-first-pet = What was the name of your first pet?
question-favourite-book = What is your favourite book?
question-mother-maiden-name = What is your mother's maiden name?
question-first-school = What was the name of your first primary school?
question-childhood-street = In which street did you live as a child?
question-first-teacher = What was the name of your teacher in the first year of primary school?
question-childhood-friend = What was the first name of your best friend as a child?
question-first-concert = What was the first concert you went to?
question-first-holiday = Where did you go on your first holiday abroad?
question-unknown = (This question is no longer available; type any answer or choose another method.)

## Authenticator app (steps 9 and 10)
push-sent = We sent a notification with the number { $number } to your Authenticator app. Open the app, check that number (or pick it if the app asks for it) and tap Approve.
button-push-again = Send the notification again
push-denied = You denied the notification. If that was not you, please contact the ICT Service Desk.
enter-totp = Open the Authenticator app, select your work account and type the six-digit one-time code here.

## Outcome of a check
verification-failed = That is not right. Try again or choose another method.
challenge-expired = This code or request has expired. Please ask for a new one.
button-other-method = Choose another method

## New password (step 11a)
enter-new-password = Type your new password. A sentence of a few words works well: long, not commonly used, and without your login name.
confirm-new-password = Type the same password once more to confirm.
password-mismatch = The two passwords are not the same.
password-rejected = This password cannot be used:
password-too-short = • it is shorter than { $min } characters
password-too-long = • it is longer than { $max } characters
password-contains-login = • it contains your login name or part of it
password-too-common = • it is too easy to guess (a common password or pattern)
password-breached = • it appears in lists of leaked passwords: attackers try those first
password-reset-done = Your password has been changed. Sign in again with your new password, then close your browser. We sent a confirmation to your private e-mail address.
directory-refused = The account server refused this password:
directory-rule-history = • you used this password recently; choose a new one
directory-rule-complexity = • it does not meet your organisation's complexity rules
directory-rule-too-short = • it is shorter than your organisation allows
directory-rule-too-young = • your password was changed too recently; try again later
directory-rule-other = • it does not meet your organisation's password policy

## Unlock (step 11b)
unlocked-done = Your account is unlocked. You can sign in again with your existing password. If it does not work straight away, restart your browser. We sent a confirmation to your private e-mail address.
retry-final-step = You are verified, but the last step has not gone through yet.
button-retry = Try again

## Closing, limits and failures
goodbye = You can close this conversation. Send a message if you need anything else.
cancelled = Stopped. Nothing was changed. Send a message to start again.
button-cancel = Stop
button-restart = Start again
session-expired = Your session expired after 15 minutes without activity; let's start again.
recovery-locked = There were too many failed attempts. Password recovery for this account is blocked for { $hours } hours.
chat-user-paused = Too many accounts or codes were requested from this chat. Please try again in { $hours } hours.
recovery-closed = This recovery attempt is closed. Send a message to start again.
send-too-soon = Please wait { $seconds } more seconds before asking for a new code.
email-cap = Too many e-mails were sent to this account. E-mail is unavailable for { $hours } hours; please choose another method.
push-cap = Too many notifications were sent this hour. Please choose another method.
unavailable = That did not work just now; nothing was changed. Please try again in a few minutes.
input-too-long = That message is too long.
helpdesk-info = Need help? Call the ICT Service Desk on 020-40 777 55 (Monday to Friday, 8:00 to 18:00).

## Helpdesk handoff (what the user sees)
button-human = Talk to a person
button-not-me = This wasn't me
phone-methods-suspended = Because you did this without your phone, the text message, call and authenticator app methods of your account are switched off until you register them again (/register) once you have your phone back — or a new one. The ICT Service Desk has been told.
reported-not-me = Thank you. Self-service password recovery for this account is now blocked and the ICT Service Desk has been alerted; they will contact you. If you can, call them on 020-40 777 55 right away.
recovery-blocked-reported = Password recovery through the chat is blocked for this account after a report that a change was not made by its owner.
helpdesk-call = Please call the ICT Service Desk on { $phone } (Monday to Friday, 8:00 to 18:00).
handoff-opened = I have asked a colleague at the ICT Service Desk to take over. Someone will join this chat shortly; you can already describe your problem here. Never send a password or code.
handoff-waiting = Waiting for a colleague of the ICT Service Desk. What you type here is passed on.
handoff-with-agent = You are talking to { $name } of the ICT Service Desk.
button-leave-handoff = Stop the conversation
agent-joined = { $name } of the ICT Service Desk has joined. You are now talking to a person.
agent-says = { $name }: { $text }
handoff-closed = The ICT Service Desk has closed this conversation. Send a message if you need anything else.
handoff-timed-out = No colleague is available right now. Please call the ICT Service Desk on { $phone }.
agent-reset = The ICT Service Desk lets you set a new password now. Nobody at the desk sees it.
desk-closed = The ICT Service Desk is closed now. It opens again { $relative ->
        [today] today at { $time }
        [tomorrow] tomorrow at { $time }
        [week] on { $weekday ->
            [0] Monday
            [1] Tuesday
            [2] Wednesday
            [3] Thursday
            [4] Friday
            [5] Saturday
           *[6] Sunday
        } at { $time }
       *[later] on { $date } at { $time }
    }; you can then call { $phone }. Or leave a callback request and we will contact you when the desk opens.
desk-closed-choice = Would you like us to contact you when the ICT Service Desk opens?
button-callback = Contact me when you open
callback-queued = Your callback request is noted. A colleague will contact you { $relative ->
        [today] today from { $time }
        [tomorrow] tomorrow from { $time }
        [week] on { $weekday ->
            [0] Monday
            [1] Tuesday
            [2] Wednesday
            [3] Thursday
            [4] Friday
            [5] Saturday
           *[6] Sunday
        } from { $time }
       *[later] on { $date } from { $time }
    }.
language-set = I will speak English with you now.
button-lang-nl = Nederlands
button-lang-en = English

## Demo phone (demo only)
phone-nothing-pending = There is no call or notification waiting for an answer.

## Console
console-banner = sspr-bot demo — type a message to start (for example "hello"). Pick a button by its number. Codes are in { $outbox }. Demo phone: /phone # (answer the call), /phone approve NUMBER, /phone deny. Quit: Ctrl-D.
console-banner-live = sspr-bot — type a message to start (for example "hello"). Pick a button by its number. Codes, calls and notifications go through the configured providers. Quit: Ctrl-D.
console-choose = Type the number of your choice, or an answer.
console-secret = (what you type is not shown; pick a button with /number)
console-bad-input = I don't understand that. Send a line like {"{"}"text":"…"{"}"} or {"{"}"button":"…"{"}"}.
console-unknown-button = That button does not exist here.
console-error = Something went wrong on our side; nothing was changed. Please try again.

## Telegram
telegram-private-only = I only help in a private chat. Please send me a direct message.
telegram-secret-note = (I will delete your message as soon as I have read it.)
telegram-text-only = I only understand text messages. Type your answer or pick a button.

## Microsoft Teams
teams-private-only = I only help in a private chat. Open a chat with me (the app in the left bar, or search for my name) and write to me there.
teams-secret-in-card = For your safety I did not use that message: type it in the field of the card instead, where it is not shown in the chat. Please delete the message you just typed.
teams-submit = Send
teams-card-used = Chosen: { $choice }
teams-card-sent = Sent.

## Discord
discord-dm-only = I only help in a direct message. Click my name and choose ‘Message’ to send me a direct message.
discord-secret-button = 🔒 Enter privately
discord-secret-note = Tap ‘Enter privately’ and type it in the window that opens: that way it is not left in the chat.
discord-secret-in-modal = For your safety I did not use that message: tap ‘Enter privately’ and type it in the window instead, where it is not left in the chat. Please delete the message you just typed (I cannot do that for you).
discord-modal-title = Enter privately
discord-modal-label = Your answer
discord-already-used = This button has already been used.
discord-form-stale = This window belongs to an earlier question; I did not use it.
hd-discord-card-hint = Write to the user with ‘Message the user’ (or reply to this message and mention me); your message goes to the user's chat.
hd-discord-button-message = 💬 Message the user
hd-discord-modal-title = Message to the user
hd-discord-modal-label = Message

## SMS (the text message itself: short, GSM-7, no emoji)
sms-code-text = Your password reset verification code: { $code }. Valid for { $minutes } minutes. Do not share this code with anyone.

## E-mail (SMTP): subject, text and HTML of the messages to the private e-mail address
email-code-subject = Your password reset verification code
email-code-text =
    Hello,

    Your verification code is: { $code }

    Type this code in the chat with the password assistant. The code is valid for { $minutes } minutes and works only once.

    Did you not ask for a code? Then someone else may be trying to get into your account. Do not share this code with anyone, and call the ICT Service Desk on 020-40 777 55.
email-code-html =
    <p>Hello,</p>
    <p>Your verification code is: <strong style="font-size:1.4em;letter-spacing:0.1em">{ $code }</strong></p>
    <p>Type this code in the chat with the password assistant. The code is valid for { $minutes } minutes and works only once.</p>
    <p>Did you not ask for a code? Then someone else may be trying to get into your account. Do not share this code with anyone, and call the ICT Service Desk on 020-40 777 55.</p>
email-notice-password-reset-subject = The password of your account was changed
email-notice-password-reset-text =
    Hello,

    The password of your account { $account } was just changed through the password assistant in the chat.

    { $has_link ->
        [yes] Was this not you? Use this link to block recovery of your account at once: { $link } — and call the ICT Service Desk on 020-40 777 55.
       *[no] Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.
    }
email-notice-password-reset-html =
    <p>Hello,</p>
    <p>The password of your account <strong>{ $account }</strong> was just changed through the password assistant in the chat.</p>
    <p>{ $has_link ->
        [yes] Was this not you? Use this link to block recovery of your account at once: <a href="{ $link }">{ $link }</a> — and call the ICT Service Desk on 020-40 777 55.
       *[no] Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.
    }</p>
email-notice-unlocked-subject = Your account was unlocked
email-notice-unlocked-text =
    Hello,

    Your account { $account } was just unlocked through the password assistant in the chat. Your password was not changed.

    { $has_link ->
        [yes] Was this not you? Use this link to block recovery of your account at once: { $link } — and call the ICT Service Desk on 020-40 777 55.
       *[no] Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.
    }
email-notice-unlocked-html =
    <p>Hello,</p>
    <p>Your account <strong>{ $account }</strong> was just unlocked through the password assistant in the chat. Your password was not changed.</p>
    <p>{ $has_link ->
        [yes] Was this not you? Use this link to block recovery of your account at once: <a href="{ $link }">{ $link }</a> — and call the ICT Service Desk on 020-40 777 55.
       *[no] Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.
    }</p>

## Voice call (what the person called hears; and what the chat says when the call was not answered)
voice-call-prompt = This is the password reset for your work account. Press the hash key to confirm that this is you. Did you not ask for this? Then hang up.
voice-call-thanks = Thank you. You can hang up now and carry on in the chat.
voice-call-no-input = We did not hear a key. Please carry on in the chat. Goodbye.
call-ended-busy = Your phone was busy, so we could not call you. Choose another method or have us call you again.
call-ended-no-answer = The call was not answered. Choose another method or have us call you again.
call-ended-failed = We could not call you. Please choose another method.

## Duo push

# In the Duo Mobile push, in front of the number that the chat also shows ("Number=42").
duo-push-number-label = Number
# The kind of request Duo Mobile shows in the push.
duo-push-type = Password reset

## Results that arrive later
push-expired = The notification was not answered in time. Choose another method or try again.

## Directory that cannot unlock (Entra ID)
unlock-unsupported = You are verified, but your account cannot be unlocked from here: the lock after failed sign-ins ends by itself after a few minutes. Would you like to set a new password instead, right now?
button-reset-instead = Set a new password

## Registering verification methods (the companion document "Setting up verification methods")
not-enough-methods-register = You can register methods now, with a code sent to your work mailbox (read it on a device where you are still signed in).
button-register = Register methods
reg-intro = Let's set up the methods you can use to recover your account yourself later. First I check that you can read your work mailbox.
reg-ask-login = For which login name do you want to register methods? For example j.k.devries@bedrijf.nl
reg-work-code-sent = We sent an e-mail with a verification code to your work address { $target }. Open it on a device where you are still signed in (your phone's mail app, for example).
reg-code-wrong = That code is not right. Try again or ask for a new code.
reg-proven = Thank you, that is your work mailbox.
reg-overview = Verification methods for { $login }:
reg-line = { $method ->
        [email] • Private (alternate) e-mail address
        [mobile] • Mobile number (text message and call)
        [questions] • Security questions
        [totp] • Authenticator app code
       *[push] • Authenticator app notification
    }: { $state ->
        [registered] { $hint }
        [set] registered
        [directory] { $hint } (from the company directory)
       *[missing] not registered
    }
reconfirm-ask = It has been a while since you checked these. Are they all still right? Press "Everything is right", or change what is no longer right.
button-reg-add = { $method ->
        [email] Add a private e-mail address
        [mobile] Add a mobile number
        [questions] Set security questions
        [totp] Set up the authenticator app (code)
       *[push] Set up the authenticator app (notification)
    }
button-reg-change = { $method ->
        [email] Change private e-mail address
        [mobile] Change mobile number
        [questions] Choose new security questions
        [totp] Set up the authenticator app again
       *[push] Check the authenticator app notification
    }
button-reg-confirm = Everything is right
button-reg-done = Done
button-reg-back = Back to the overview
button-reg-new-qr = Show a new QR code
reg-enter-email = Type your private e-mail address (not your work address). We will send a code to it.
reg-email-invalid = That does not look like an e-mail address. Type it like name@example.com.
reg-email-is-work = That is a work address. A recovery code must reach you when you cannot sign in to work, so use a private address.
reg-mobile-refused = That number cannot be used for text messages. Please type a mobile number.
reg-enter-mobile = Type your mobile number, like 0612345678 or +31612345678. We will send a text message with a code to it.
reg-pick-question = Choose security question { $number } of { $total }. Pick questions whose answers only you know and will not forget.
reg-answer-prompt = Your answer to question { $number } of { $total } (3 to 40 characters; case, accents and punctuation do not matter):
reg-answer-too-short = That answer is too short: use at least { $min } characters.
reg-answer-too-long = That answer is too long: use at most { $max } characters.
reg-answer-in-question = That answer is in the question itself, so anyone could guess it. Please give another answer.
reg-answer-duplicate = You already gave that answer to another question. Use a different answer for each question.
reg-totp-scan = Scan this QR code with your authenticator app (for example Microsoft Authenticator: Add account → Work or school account → Scan QR code). Can't scan? Add the account by hand with the link below.
reg-totp-enter-code = Then type the six-digit code the app shows for this account. The app counts as registered once that code is right.
reg-push-not-enrolled = Your account has no authenticator app for notifications yet. Install the app and activate it as described in the instructions from the ICT Service Desk, then try again.
reg-saved = Saved: { $method ->
        [email] your private e-mail address
        [mobile] your mobile number
        [questions] your security questions
        [totp] the authenticator app (code)
       *[push] the authenticator app (notification)
    }. We sent a notice about this change to your e-mail addresses.
reg-confirmed = Thank you for checking. Your methods stay as they are.
reg-finished = Your verification methods are saved.
email-notice-methods-changed-subject = The verification methods of your account were changed
email-notice-methods-changed-text =
    Hello,

    The verification methods for password recovery of your account { $account } were just changed through the password assistant in the chat.

    Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.
email-notice-methods-changed-html =
    <p>Hello,</p>
    <p>The verification methods for password recovery of your account <strong>{ $account }</strong> were just changed through the password assistant in the chat.</p>
    <p>Was this not you? Then call the ICT Service Desk on 020-40 777 55 straight away.</p>

## Helpdesk desk (what agents see)
# The card of a handoff in the service desk's Telegram group or Teams channel.
hd-card-title = { $kind ->
        [urgent] 🚨 URGENT { $ref } · "this wasn't me": the account may be misused
        [callback] 📞 { $ref } · callback request
       *[live] 💬 { $ref } · someone is waiting in the chat
    }
hd-label-account = Account
hd-label-language = Language
hd-label-platform = Platform
hd-label-reason = Reason
hd-label-passed = Passed
hd-label-failed = Failed
hd-label-asked = Asked at
hd-label-status = Status
hd-account-unknown = unknown
hd-nothing = nothing
hd-language = { $lang ->
        [nl] Dutch
       *[en] English
    }
hd-platform = { $platform ->
        [telegram] Telegram
        [teams] Microsoft Teams
        [discord] Discord
        [console] console
       *[other] { $platform }
    }
hd-reason = { $reason ->
        [asked] asked for a person
        [locked_out] locked out after too many failed checks
        [no_method] no registered method fits
        [no_phone] has no phone at hand
        [lost_phone] lost their phone
        [not_me] reports a change they did not make
        [callback] callback request outside office hours
       *[other] { $reason }
    }
hd-method = { $method ->
        [email] e-mail
        [sms] SMS
        [call] phone call
        [questions] security questions
        [push] Authenticator notification
        [totp] Authenticator code
        [recovery_locked] recovery locked (too many failed checks)
       *[other] { $method }
    }
hd-status = { $status ->
        [waiting] waiting for an agent
        [queued] waiting for an agent
        [claimed] claimed by { $name }
        [closed] closed
        [timed_out] nobody claimed it in time; the user was given the phone number
        [closed_by_user] the user ended the conversation
       *[other] { $status }
    }
hd-card-hint = Reply to this message to write to the user; your reply goes to the user's chat.
hd-button-claim = ✋ Claim
hd-button-unlock = 🔓 Unlock
hd-button-reset = 🔑 Let them set a new password
hd-button-close = ✅ Close
hd-relay = { $ref } { $account }: { $text }
hd-outcome-done = { $action ->
        [claim] Claimed: you are helping this user now.
        [unlock] Account unlocked; the user has been told.
        [send_reset] The user is now choosing a new password in their own chat.
        [close] Closed; the user has been told.
       *[other] Passed on.
    }
hd-outcome-not-an-agent = Only ICT Service Desk agents can do this. Nothing happened.
hd-outcome-unknown = This conversation does not exist (any more).
hd-outcome-not-yours = { $name } has claimed this conversation.
hd-outcome-not-claimed = Claim this conversation first with the Claim button.
hd-outcome-closed = This conversation is already closed.
hd-outcome-no-account = No account known: the user gave no login name.
hd-outcome-failed = That did not work: { $why }
hd-outcome-error = That did not work because of a fault. Please try again shortly.
hd-reply-to-card = I don't know which conversation this belongs to. Reply to the conversation's card (the message with the buttons) to write to the user.
hd-teams-act-in-telegram = Claiming, answering and handling it happens in the ICT Service Desk's Telegram group.
hd-teams-update = { $ref } · { $account }: { $status }

## This wasn't me (web page)
# The page behind the "Was this not you?" link in the e-mail after a password change or unlock.
# A GET shows only the explanation and a button; only the button (a POST) blocks.
not-me-page-title = Was this not you?
not-me-page-explain = The password of your account was changed, or your account was unlocked, through the password assistant in the chat. Was that not you? Then block recovery of your account below: after that nobody can recover the password of this account or unlock it on their own any more, and the ICT Service Desk is alerted at once.
not-me-page-confirm = Block recovery of my account
not-me-page-call = Please also call the ICT Service Desk on 020-40 777 55 right away (Monday to Friday, 8:00 to 18:00).
not-me-page-blocked-title = Recovery blocked
not-me-page-blocked = Self-service recovery of your account is now blocked and the ICT Service Desk has been alerted; they will contact you. If you can, call them on 020-40 777 55 right away.
not-me-page-invalid-title = This link is not valid
not-me-page-invalid = This link is not valid (any more). Did you not change your password or unlock your account? Then call the ICT Service Desk on 020-40 777 55 straight away.
not-me-page-error-title = Something went wrong
not-me-page-error = Blocking did not work because of a fault. Please call the ICT Service Desk on 020-40 777 55 straight away.
