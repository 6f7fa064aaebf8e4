# sspr-bot — Nederlands (standaardtaal). Elke tekst die een gebruiker ziet staat hier en in en/main.ftl.

## Begin (stap 1–3)
welcome = Hallo! Ik help je een nieuw wachtwoord in te stellen of je geblokkeerde account te ontgrendelen.
ask-login = Wat is je loginnaam? Bijvoorbeeld j.k.devries@bedrijf.nl
login-invalid = Dat lijkt geen loginnaam. Een loginnaam ziet eruit als j.k.devries@bedrijf.nl — probeer het nog eens.
ask-reason = Waarmee kan ik je helpen voor { $login }?
button-reason-forgot = Ik ben mijn wachtwoord vergeten
button-reason-locked = Mijn account is geblokkeerd (ik weet mijn wachtwoord)
one-moment = Een ogenblik, ik zoek je account op…

## Verificatiemethode kiezen (stap 4)
choose-method = Verificatiestap { $step } van { $total }: hoe wil je bevestigen dat jij het bent?
method-passed = Gelukt! Kies nu een tweede, andere methode.
both-passed = Beide verificatiestappen zijn gelukt.
method-email = E-mail naar mijn privé (alternatief) e-mailadres { $hint }
method-sms = Sms naar mijn telefoon { $hint }
method-call = Mijn mobiele telefoon bellen { $hint }
method-questions = Mijn beveiligingsvragen beantwoorden
method-push = Een melding in de Authenticator-app goedkeuren
method-totp = Een code uit de Authenticator-app invoeren
button-no-phone = Ik heb mijn telefoon niet bij me
button-with-phone = Ik heb mijn telefoon wel
not-enough-methods = Met de methodes die voor je account zijn vastgelegd kun je je wachtwoord niet zelf herstellen: er zijn twee verschillende methodes nodig.
no-phone-needs-email-and-questions = Zonder telefoon lukt het alleen met je privé e-mailadres én je beveiligingsvragen.

## E-mail (stap 5)
code-sent-email = We hebben een e-mail met een verificatiecode gestuurd naar je privé e-mailadres { $target } (niet naar je zakelijke adres).
enter-code = Typ hier de verificatiecode van zes cijfers. De code is 10 minuten geldig.
code-format = Een verificatiecode bestaat uit precies zes cijfers. Probeer het nog eens.
button-resend = Stuur een nieuwe code

## Sms en bellen (stap 6 en 7)
enter-phone-sms = Voor de beveiliging van je account: typ het volledige nummer van je mobiele telefoon ({ $masked }). Je krijgt daarna een sms met een verificatiecode.
enter-phone-call = Voor de beveiliging van je account: typ het volledige nummer van je mobiele telefoon ({ $masked }). Daarna word je gebeld.
phone-invalid = Dat is geen geldig telefoonnummer. Typ het zo: 0612345678 of +31612345678.
phone-mismatch = Dat nummer komt niet overeen met het nummer dat voor je account is vastgelegd.
code-sent-sms = We hebben een sms met een verificatiecode gestuurd naar { $target }.
call-placed = We bellen je nu op { $masked }. Neem op en druk op # om te bevestigen dat jij het bent.
button-call-again = Bel me opnieuw

## Beveiligingsvragen (stap 8)
question-prompt = Vraag { $number } van { $total }:
question-birth-city = In welke stad ben je geboren?
question-first-pet = Wat was de naam van je eerste huisdier?
question-favourite-book = Wat is je favoriete boek?
question-mother-maiden-name = Wat is de meisjesnaam van je moeder?
question-first-school = Hoe heette je eerste basisschool?
question-childhood-street = In welke straat woonde je als kind?
question-first-teacher = Hoe heette je juf of meester in groep 3?
question-childhood-friend = Wat was de voornaam van je beste vriend of vriendin als kind?
question-first-concert = Wat was het eerste concert waar je naartoe ging?
question-first-holiday = Waar ging je naartoe op je eerste vakantie in het buitenland?
question-unknown = (Deze vraag is niet meer beschikbaar; typ een willekeurig antwoord of kies een andere methode.)

## Authenticator-app (stap 9 en 10)
push-sent = We hebben een melding met het nummer { $number } naar je Authenticator-app gestuurd. Open de app, controleer dat nummer (of kies het als de app erom vraagt) en druk op Goedkeuren.
button-push-again = Stuur de melding opnieuw
push-denied = Je hebt de melding afgewezen. Was jij dat niet? Neem dan contact op met de ICT Servicedesk.
enter-totp = Open de Authenticator-app, selecteer je zakelijke account en typ hier de eenmalige code van zes cijfers.

## Uitkomst van een controle
verification-failed = Dat klopt niet. Probeer het nog eens of kies een andere methode.
challenge-expired = Deze code of aanvraag is verlopen. Vraag een nieuwe aan.
button-other-method = Andere methode kiezen

## Nieuw wachtwoord (stap 11a)
enter-new-password = Typ je nieuwe wachtwoord. Een zin van een paar woorden werkt goed: lang, niet veelgebruikt en zonder je loginnaam.
confirm-new-password = Typ hetzelfde wachtwoord nog een keer ter bevestiging.
password-mismatch = De twee wachtwoorden zijn niet gelijk.
password-rejected = Dit wachtwoord kan niet worden gebruikt:
password-too-short = • het is korter dan { $min } tekens
password-too-long = • het is langer dan { $max } tekens
password-contains-login = • het bevat je loginnaam of een deel ervan
password-too-common = • het is te makkelijk te raden (een veelgebruikt wachtwoord of patroon)
password-breached = • het staat in lijsten van uitgelekte wachtwoorden: aanvallers proberen het als eerste
password-reset-done = Je wachtwoord is gewijzigd. Meld je opnieuw aan met je nieuwe wachtwoord; sluit daarna je browser. We hebben een bevestiging naar je privé e-mailadres gestuurd.
directory-refused = De accountserver heeft dit wachtwoord geweigerd:
directory-rule-history = • je hebt dit wachtwoord onlangs al gebruikt; kies een nieuw wachtwoord
directory-rule-complexity = • het voldoet niet aan de complexiteitseisen van je organisatie
directory-rule-too-short = • het is korter dan je organisatie toestaat
directory-rule-too-young = • je wachtwoord is te kort geleden gewijzigd; probeer het later opnieuw
directory-rule-other = • het voldoet niet aan het wachtwoordbeleid van je organisatie

## Ontgrendelen (stap 11b)
unlocked-done = Je account is ontgrendeld. Je kunt je weer aanmelden met je bestaande wachtwoord. Lukt het niet meteen? Start dan je browser opnieuw op. We hebben een bevestiging naar je privé e-mailadres gestuurd.
retry-final-step = Je bent geverifieerd, maar de laatste stap is nog niet gelukt.
button-retry = Opnieuw proberen

## Afsluiten, limieten en storingen
goodbye = Je kunt dit gesprek sluiten. Stuur een bericht als je nog iets nodig hebt.
cancelled = Gestopt. Er is niets gewijzigd. Stuur een bericht om opnieuw te beginnen.
button-cancel = Stoppen
button-restart = Opnieuw beginnen
session-expired = Je sessie is verlopen na 15 minuten zonder activiteit; we beginnen opnieuw.
recovery-locked = Er zijn te veel mislukte pogingen gedaan. Wachtwoordherstel voor dit account is { $hours } uur geblokkeerd.
chat-user-paused = Vanuit deze chat zijn te veel accounts of codes aangevraagd. Probeer het over { $hours } uur opnieuw.
recovery-closed = Deze herstelpoging is afgesloten. Stuur een bericht om opnieuw te beginnen.
send-too-soon = Wacht nog { $seconds } seconden voordat je een nieuwe code aanvraagt.
email-cap = Er zijn te veel e-mails naar dit account gestuurd. E-mail is { $hours } uur niet beschikbaar; kies een andere methode.
push-cap = Er zijn dit uur te veel meldingen verstuurd. Kies een andere methode.
unavailable = Het lukt nu even niet; er is niets gewijzigd. Probeer het over een paar minuten opnieuw.
input-too-long = Dat bericht is te lang.
helpdesk-info = Hulp nodig? Bel de ICT Servicedesk op 020-40 777 55 (bereikbaar ma. t/m vr. van 8:00 tot 18:00).

## Overdracht aan de servicedesk (wat de gebruiker ziet)
button-human = Met een medewerker praten
button-not-me = Dit was ik niet
phone-methods-suspended = Omdat je dit zonder je telefoon deed, zijn de methodes sms, bellen en Authenticator-app van je account uitgeschakeld tot je ze opnieuw vastlegt (/registreren) zodra je je telefoon terug hebt — of een nieuwe. De ICT Servicedesk is op de hoogte gebracht.
reported-not-me = Dank je. Wachtwoordherstel via de chat is voor dit account nu geblokkeerd en de ICT Servicedesk is gewaarschuwd; zij nemen contact met je op. Bel ze als het kan meteen op 020-40 777 55.
recovery-blocked-reported = Wachtwoordherstel via de chat is voor dit account geblokkeerd na een melding dat een wijziging niet door de eigenaar is gedaan.
helpdesk-call = Bel de ICT Servicedesk op { $phone } (maandag t/m vrijdag van 8:00 tot 18:00).
handoff-opened = Ik heb een collega van de ICT Servicedesk gevraagd het over te nemen. Er komt zo iemand in deze chat; je kunt je probleem hier alvast beschrijven. Stuur nooit een wachtwoord of code.
handoff-waiting = Even wachten op een collega van de ICT Servicedesk. Wat je hier typt, wordt doorgegeven.
handoff-with-agent = Je praat met { $name } van de ICT Servicedesk.
button-leave-handoff = Het gesprek beëindigen
agent-joined = { $name } van de ICT Servicedesk is erbij gekomen. Je praat nu met een mens.
agent-says = { $name }: { $text }
handoff-closed = De ICT Servicedesk heeft dit gesprek afgesloten. Stuur een bericht als je nog iets nodig hebt.
handoff-timed-out = Er is nu geen collega beschikbaar. Bel de ICT Servicedesk op { $phone }.
agent-reset = De ICT Servicedesk laat je nu een nieuw wachtwoord instellen. Niemand bij de servicedesk ziet het.
desk-closed = De ICT Servicedesk is nu gesloten. We zijn er weer { $relative ->
        [today] vandaag om { $time }
        [tomorrow] morgen om { $time }
        [week] { $weekday ->
            [0] maandag
            [1] dinsdag
            [2] woensdag
            [3] donderdag
            [4] vrijdag
            [5] zaterdag
           *[6] zondag
        } om { $time }
       *[later] op { $date } om { $time }
    }; bel dan { $phone }. Of laat een terugbelverzoek achter, dan nemen we contact met je op zodra we open zijn.
desk-closed-choice = Wil je dat we contact met je opnemen zodra de ICT Servicedesk open is?
button-callback = Neem contact met me op
callback-queued = Je terugbelverzoek is genoteerd. Een collega neemt contact met je op { $relative ->
        [today] vandaag vanaf { $time }
        [tomorrow] morgen vanaf { $time }
        [week] { $weekday ->
            [0] maandag
            [1] dinsdag
            [2] woensdag
            [3] donderdag
            [4] vrijdag
            [5] zaterdag
           *[6] zondag
        } vanaf { $time }
       *[later] op { $date } vanaf { $time }
    }.
language-set = Ik praat nu Nederlands met je.
button-lang-nl = Nederlands
button-lang-en = English

## Demo-telefoon (alleen in de demo)
phone-nothing-pending = Er wacht geen oproep of melding op een antwoord.

## Console
console-banner = sspr-bot demo — typ een bericht om te beginnen (bijvoorbeeld "hoi"). Kies een knop met zijn nummer. Codes staan in { $outbox }. Demo-telefoon: /phone # (oproep beantwoorden), /phone approve NUMMER, /phone deny. Stoppen: Ctrl-D.
console-banner-live = sspr-bot — typ een bericht om te beginnen (bijvoorbeeld "hoi"). Kies een knop met zijn nummer. Codes, oproepen en meldingen gaan via de ingestelde providers. Stoppen: Ctrl-D.
console-choose = Typ het nummer van je keuze of een antwoord.
console-secret = (wat je typt wordt niet getoond; kies een knop met /nummer)
console-bad-input = Dat begrijp ik niet. Stuur een regel als {"{"}"text":"…"{"}"} of {"{"}"button":"…"{"}"}.
console-unknown-button = Die knop bestaat hier niet.
console-error = Er ging iets mis aan onze kant; er is niets gewijzigd. Probeer het opnieuw.

## Telegram
telegram-private-only = Ik help alleen in een privégesprek. Stuur me een persoonlijk bericht.
telegram-secret-note = (Ik verwijder je bericht meteen nadat ik het gelezen heb.)
telegram-text-only = Ik begrijp alleen tekstberichten. Typ je antwoord of kies een knop.

## Microsoft Teams
teams-private-only = Ik help alleen in een privéchat. Open een chat met mij (de app in de balk links, of zoek op mijn naam) en schrijf me daar.
teams-secret-in-card = Voor je veiligheid heb ik dat bericht niet gebruikt: typ het in het veld van de kaart, waar het niet in de chat te zien is. Verwijder het bericht dat je net typte.
teams-submit = Versturen
teams-card-used = Gekozen: { $choice }
teams-card-sent = Verstuurd.

## Discord
discord-dm-only = Ik help alleen in een privébericht. Klik op mijn naam en kies ‘Bericht’ om me een direct bericht te sturen.
discord-secret-button = 🔒 Privé invoeren
discord-secret-note = Tik op ‘Privé invoeren’ en typ het in het venster dat opent: zo komt het niet in de chat te staan.
discord-secret-in-modal = Voor je veiligheid heb ik dat bericht niet gebruikt: tik op ‘Privé invoeren’ en typ het in het venster, waar het niet in de chat blijft staan. Verwijder het bericht dat je net typte (dat kan ik niet voor je doen).
discord-modal-title = Privé invoeren
discord-modal-label = Je antwoord
discord-already-used = Deze knop is al gebruikt.
discord-form-stale = Dit venster hoort bij een eerdere vraag; ik heb het niet gebruikt.
hd-discord-card-hint = Schrijf de gebruiker met ‘Bericht aan gebruiker’ (of beantwoord dit bericht en noem mij); je bericht komt in de chat van de gebruiker.
hd-discord-button-message = 💬 Bericht aan gebruiker
hd-discord-modal-title = Bericht aan de gebruiker
hd-discord-modal-label = Bericht

## SMS (de tekst van het bericht zelf: kort, GSM-7, geen emoji)
sms-code-text = Je verificatiecode voor wachtwoordherstel: { $code }. Geldig { $minutes } minuten. Deel deze code met niemand.

## E-mail (SMTP): onderwerp, tekst en HTML van de berichten naar het privé e-mailadres
email-code-subject = Je verificatiecode voor wachtwoordherstel
email-code-text =
    Hallo,

    Je verificatiecode is: { $code }

    Typ deze code in het chatgesprek met de wachtwoordhulp. De code is { $minutes } minuten geldig en werkt maar één keer.

    Heb je geen code aangevraagd? Dan probeert misschien iemand anders bij je account te komen. Deel deze code met niemand en bel de ICT Servicedesk op 020-40 777 55.
email-code-html =
    <p>Hallo,</p>
    <p>Je verificatiecode is: <strong style="font-size:1.4em;letter-spacing:0.1em">{ $code }</strong></p>
    <p>Typ deze code in het chatgesprek met de wachtwoordhulp. De code is { $minutes } minuten geldig en werkt maar één keer.</p>
    <p>Heb je geen code aangevraagd? Dan probeert misschien iemand anders bij je account te komen. Deel deze code met niemand en bel de ICT Servicedesk op 020-40 777 55.</p>
email-notice-password-reset-subject = Het wachtwoord van je account is gewijzigd
email-notice-password-reset-text =
    Hallo,

    Het wachtwoord van je account { $account } is zojuist gewijzigd via de wachtwoordhulp in de chat.

    { $has_link ->
        [yes] Was jij dit niet? Blokkeer dan met deze link meteen het herstel van je account: { $link } — en bel de ICT Servicedesk op 020-40 777 55.
       *[no] Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
    }
email-notice-password-reset-html =
    <p>Hallo,</p>
    <p>Het wachtwoord van je account <strong>{ $account }</strong> is zojuist gewijzigd via de wachtwoordhulp in de chat.</p>
    <p>{ $has_link ->
        [yes] Was jij dit niet? Blokkeer dan met deze link meteen het herstel van je account: <a href="{ $link }">{ $link }</a> — en bel de ICT Servicedesk op 020-40 777 55.
       *[no] Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
    }</p>
email-notice-unlocked-subject = Je account is ontgrendeld
email-notice-unlocked-text =
    Hallo,

    Je account { $account } is zojuist ontgrendeld via de wachtwoordhulp in de chat. Je wachtwoord is niet gewijzigd.

    { $has_link ->
        [yes] Was jij dit niet? Blokkeer dan met deze link meteen het herstel van je account: { $link } — en bel de ICT Servicedesk op 020-40 777 55.
       *[no] Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
    }
email-notice-unlocked-html =
    <p>Hallo,</p>
    <p>Je account <strong>{ $account }</strong> is zojuist ontgrendeld via de wachtwoordhulp in de chat. Je wachtwoord is niet gewijzigd.</p>
    <p>{ $has_link ->
        [yes] Was jij dit niet? Blokkeer dan met deze link meteen het herstel van je account: <a href="{ $link }">{ $link }</a> — en bel de ICT Servicedesk op 020-40 777 55.
       *[no] Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
    }</p>

## Voice call (wat de gebelde hoort; en wat de chat zegt als de oproep niet werd opgenomen)
voice-call-prompt = Dit is de wachtwoordherstel van je werkaccount. Druk op hekje om te bevestigen dat jij dit bent. Heb je dit niet aangevraagd? Hang dan op.
voice-call-thanks = Bedankt. Je kunt nu ophangen en verdergaan in de chat.
voice-call-no-input = We hebben geen toets gehoord. Ga verder in de chat. Tot ziens.
call-ended-busy = Je telefoon was in gesprek, dus je kon niet gebeld worden. Kies een andere methode of laat je opnieuw bellen.
call-ended-no-answer = De oproep werd niet opgenomen. Kies een andere methode of laat je opnieuw bellen.
call-ended-failed = Het lukte niet om je te bellen. Kies een andere methode.

## Duo push

# In de melding van Duo Mobile, voor het getal dat ook in de chat staat ("Nummer=42").
duo-push-number-label = Nummer
# Het soort verzoek dat Duo Mobile in de melding toont.
duo-push-type = Wachtwoordherstel

## Resultaten die later binnenkomen
push-expired = Er is op tijd geen antwoord op de melding gekomen. Kies een andere methode of probeer het opnieuw.

## Directory die niet kan ontgrendelen (Entra ID)
unlock-unsupported = Je bent geverifieerd, maar je account kan hier niet direct worden ontgrendeld: de blokkade na foute inlogpogingen verloopt vanzelf na enkele minuten. Wil je in plaats daarvan meteen een nieuw wachtwoord instellen?
button-reset-instead = Nieuw wachtwoord instellen

## Verificatiemethodes vastleggen (het document "Instellen verificatiemethodes voor wachtwoordherstel")
not-enough-methods-register = Je kunt nu methodes vastleggen, met een code die we naar je zakelijke mailbox sturen (lees die op een apparaat waarop je nog bent ingelogd).
button-register = Methodes vastleggen
reg-intro = We leggen de methodes vast waarmee je later zelf je account kunt herstellen. Eerst controleer ik dat je je zakelijke mailbox kunt lezen.
reg-ask-login = Voor welke loginnaam wil je methodes vastleggen? Bijvoorbeeld j.k.devries@bedrijf.nl
reg-work-code-sent = We hebben een e-mail met een verificatiecode gestuurd naar je zakelijke adres { $target }. Open die op een apparaat waarop je nog bent ingelogd (bijvoorbeeld de mail-app op je telefoon).
reg-code-wrong = Die code klopt niet. Probeer het nog eens of vraag een nieuwe code aan.
reg-proven = Dank je, dat is je zakelijke mailbox.
reg-overview = Verificatiemethodes voor { $login }:
reg-line = { $method ->
        [email] • Privé (alternatief) e-mailadres
        [mobile] • Mobiel nummer (sms en bellen)
        [questions] • Beveiligingsvragen
        [totp] • Code uit de Authenticator-app
       *[push] • Melding in de Authenticator-app
    }: { $state ->
        [registered] { $hint }
        [set] vastgelegd
        [directory] { $hint } (uit de bedrijfsgegevens)
       *[missing] niet vastgelegd
    }
reconfirm-ask = Je hebt deze gegevens al een tijd niet gecontroleerd. Kloppen ze allemaal nog? Druk op "Alles klopt", of wijzig wat niet meer klopt.
button-reg-add = { $method ->
        [email] Privé e-mailadres toevoegen
        [mobile] Mobiel nummer toevoegen
        [questions] Beveiligingsvragen instellen
        [totp] Authenticator-app instellen (code)
       *[push] Authenticator-app instellen (melding)
    }
button-reg-change = { $method ->
        [email] Privé e-mailadres wijzigen
        [mobile] Mobiel nummer wijzigen
        [questions] Nieuwe beveiligingsvragen kiezen
        [totp] Authenticator-app opnieuw instellen
       *[push] Melding in de Authenticator-app controleren
    }
button-reg-confirm = Alles klopt
button-reg-done = Klaar
button-reg-back = Terug naar het overzicht
button-reg-new-qr = Toon een nieuwe QR-code
reg-enter-email = Typ je privé e-mailadres (niet je zakelijke adres). We sturen er een code naartoe.
reg-email-invalid = Dat lijkt geen e-mailadres. Typ het zo: naam@voorbeeld.nl.
reg-email-is-work = Dat is een zakelijk adres. Een herstelcode moet je ook bereiken als je niet kunt inloggen, dus gebruik een privé-adres.
reg-mobile-refused = Naar dat nummer kunnen we geen sms sturen. Typ een mobiel nummer.
reg-enter-mobile = Typ je mobiele nummer, zoals 0612345678 of +31612345678. We sturen er een sms met een code naartoe.
reg-pick-question = Kies beveiligingsvraag { $number } van { $total }. Kies vragen waarvan alleen jij het antwoord weet en dat je niet vergeet.
reg-answer-prompt = Je antwoord op vraag { $number } van { $total } (3 tot 40 tekens; hoofdletters, accenten en leestekens maken niet uit):
reg-answer-too-short = Dat antwoord is te kort: gebruik minstens { $min } tekens.
reg-answer-too-long = Dat antwoord is te lang: gebruik hoogstens { $max } tekens.
reg-answer-in-question = Dat antwoord staat in de vraag zelf, dus iedereen kan het raden. Geef een ander antwoord.
reg-answer-duplicate = Dat antwoord heb je al bij een andere vraag gegeven. Gebruik voor elke vraag een ander antwoord.
reg-totp-scan = Scan deze QR-code met je Authenticator-app (bijvoorbeeld Microsoft Authenticator: Account toevoegen → Werk- of schoolaccount → QR-code scannen). Lukt scannen niet? Voeg het account dan met de hand toe met de link hieronder.
reg-totp-enter-code = Typ daarna de code van zes cijfers die de app bij dit account toont. De app telt als vastgelegd zodra die code klopt.
reg-push-not-enrolled = Voor je account is nog geen Authenticator-app voor meldingen ingesteld. Installeer de app en activeer hem zoals de ICT Servicedesk beschrijft, en probeer het daarna opnieuw.
reg-saved = Vastgelegd: { $method ->
        [email] je privé e-mailadres
        [mobile] je mobiele nummer
        [questions] je beveiligingsvragen
        [totp] de Authenticator-app (code)
       *[push] de Authenticator-app (melding)
    }. We hebben een bericht over deze wijziging naar je e-mailadressen gestuurd.
reg-confirmed = Dank je voor het controleren. Je methodes blijven zoals ze zijn.
reg-finished = Je verificatiemethodes zijn opgeslagen.
email-notice-methods-changed-subject = De verificatiemethodes van je account zijn gewijzigd
email-notice-methods-changed-text =
    Hallo,

    De verificatiemethodes voor wachtwoordherstel van je account { $account } zijn zojuist gewijzigd via de wachtwoordassistent in de chat.

    Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
email-notice-methods-changed-html =
    <p>Hallo,</p>
    <p>De verificatiemethodes voor wachtwoordherstel van je account <strong>{ $account }</strong> zijn zojuist gewijzigd via de wachtwoordassistent in de chat.</p>
    <p>Was jij dit niet? Bel dan meteen de ICT Servicedesk op 020-40 777 55.</p>

## Helpdesk desk (what agents see)
# De kaart van een overdracht in de Telegram-groep of het Teams-kanaal van de servicedesk.
hd-card-title = { $kind ->
        [urgent] 🚨 DRINGEND { $ref } · "dit was ik niet": mogelijk misbruik van het account
        [callback] 📞 { $ref } · terugbelverzoek
       *[live] 💬 { $ref } · iemand wacht in de chat
    }
hd-label-account = Account
hd-label-language = Taal
hd-label-platform = Kanaal
hd-label-reason = Reden
hd-label-passed = Gelukt
hd-label-failed = Mislukt
hd-label-asked = Gevraagd
hd-label-status = Status
hd-account-unknown = onbekend
hd-nothing = niets
hd-language = { $lang ->
        [nl] Nederlands
       *[en] Engels
    }
hd-platform = { $platform ->
        [telegram] Telegram
        [teams] Microsoft Teams
        [discord] Discord
        [console] console
       *[other] { $platform }
    }
hd-reason = { $reason ->
        [asked] vroeg zelf om een medewerker
        [locked_out] geblokkeerd na te veel mislukte controles
        [no_method] geen geregistreerde methode past
        [no_phone] heeft geen telefoon bij zich
        [lost_phone] telefoon kwijt
        [not_me] meldt een wijziging die hij of zij niet zelf deed
        [callback] terugbelverzoek buiten openingstijden
       *[other] { $reason }
    }
hd-method = { $method ->
        [email] e-mail
        [sms] sms
        [call] telefoontje
        [questions] beveiligingsvragen
        [push] Authenticator-melding
        [totp] Authenticator-code
        [recovery_locked] herstel geblokkeerd (te veel mislukte controles)
       *[other] { $method }
    }
hd-status = { $status ->
        [waiting] wacht op een collega
        [queued] wacht op een collega
        [claimed] opgepakt door { $name }
        [closed] afgesloten
        [timed_out] niemand pakte het op tijd op; de gebruiker kreeg het telefoonnummer
        [closed_by_user] de gebruiker heeft het gesprek beëindigd
       *[other] { $status }
    }
hd-card-hint = Beantwoord dit bericht om de gebruiker te schrijven; je antwoord komt in de chat van de gebruiker.
hd-button-claim = ✋ Oppakken
hd-button-unlock = 🔓 Ontgrendelen
hd-button-reset = 🔑 Nieuw wachtwoord laten kiezen
hd-button-close = ✅ Afsluiten
hd-relay = { $ref } { $account }: { $text }
hd-outcome-done = { $action ->
        [claim] Opgepakt: jij helpt deze gebruiker nu.
        [unlock] Account ontgrendeld; de gebruiker is ingelicht.
        [send_reset] De gebruiker kiest nu in de eigen chat een nieuw wachtwoord.
        [close] Afgesloten; de gebruiker is ingelicht.
       *[other] Doorgegeven.
    }
hd-outcome-not-an-agent = Alleen medewerkers van de ICT Servicedesk kunnen dit doen. Er is niets gebeurd.
hd-outcome-unknown = Dit gesprek bestaat niet (meer).
hd-outcome-not-yours = { $name } heeft dit gesprek opgepakt.
hd-outcome-not-claimed = Pak dit gesprek eerst op met de knop Oppakken.
hd-outcome-closed = Dit gesprek is al afgesloten.
hd-outcome-no-account = Geen account bekend: de gebruiker gaf geen loginnaam.
hd-outcome-failed = Dat is niet gelukt: { $why }
hd-outcome-error = Dat is niet gelukt door een storing. Probeer het zo opnieuw.
hd-reply-to-card = Ik weet niet bij welk gesprek dit hoort. Beantwoord de kaart van het gesprek (het bericht met de knoppen) om de gebruiker te schrijven.
hd-teams-act-in-telegram = Oppakken, antwoorden en afhandelen gaat in de Telegram-groep van de ICT Servicedesk.
hd-teams-update = { $ref } · { $account }: { $status }

## This wasn't me (web page)
# De pagina achter de link "Was jij dit niet?" in de e-mail na een wachtwoordwijziging of ontgrendeling.
# Een GET toont alleen uitleg en een knop; pas de knop (POST) blokkeert.
not-me-page-title = Was jij dit niet?
not-me-page-explain = Het wachtwoord van je account is gewijzigd of je account is ontgrendeld via de wachtwoordhulp in de chat. Was jij dat niet? Blokkeer dan hieronder het herstel van je account: daarna kan niemand het wachtwoord van dit account nog zelf herstellen of het account zelf ontgrendelen, en de ICT Servicedesk wordt meteen gewaarschuwd.
not-me-page-confirm = Blokkeer het herstel van mijn account
not-me-page-call = Bel ook meteen de ICT Servicedesk op 020-40 777 55 (maandag tot en met vrijdag, 8:00 tot 18:00).
not-me-page-blocked-title = Herstel geblokkeerd
not-me-page-blocked = Het zelf herstellen van je account is nu geblokkeerd en de ICT Servicedesk is gewaarschuwd; zij nemen contact met je op. Bel ze als het kan meteen op 020-40 777 55.
not-me-page-invalid-title = Deze link is niet geldig
not-me-page-invalid = Deze link is niet (meer) geldig. Heb jij je wachtwoord niet gewijzigd of je account niet ontgrendeld? Bel dan meteen de ICT Servicedesk op 020-40 777 55.
not-me-page-error-title = Er ging iets mis
not-me-page-error = Het blokkeren is niet gelukt door een storing. Bel meteen de ICT Servicedesk op 020-40 777 55.
