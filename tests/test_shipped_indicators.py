"""Every shipped indicator against sentences of our own making: at least two it must match and
two it must not (negated, hypothetical, drills, look-backs, sports, split or unrelated uses of
its words), in English and in Russian, read through the shipped scenarios.yaml and cues."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tracker.matching import Found, Matcher
from tracker.scenarios import load_scenarios
from tracker.trial import spec_matcher

SHIPPED = Path(__file__).resolve().parent.parent / "scenarios.yaml"


@dataclass(frozen=True)
class Example:
    """A headline and summary, whether the indicator must match them, and why; for a look-alike
    a cue stops, the kind of that cue."""

    indicator: str
    title: str
    summary: str
    match: bool
    why: str
    cue: str | None = None

    @property
    def language(self) -> str:
        return "ru" if re.search("[а-яё]", (self.title + self.summary).lower()) else "en"


def yes(indicator: str, title: str, summary: str, why: str) -> Example:
    return Example(indicator, title, summary, True, why)


def no(indicator: str, title: str, summary: str, why: str, cue: str | None = None) -> Example:
    return Example(indicator, title, summary, False, why, cue)


EXAMPLES = [
    # --- csto-response -------------------------------------------------------------------
    yes("csto-afghan-deploy-decision", "CSTO to deploy rapid reaction force to Afghan border",
        "The Collective Security Council decided on Tuesday to send the collective forces to "
        "Tajikistan's frontier with Afghanistan.", "a decision to deploy, in the headline"),
    yes("csto-afghan-deploy-decision", "CSTO agrees to send collective forces to Tajikistan's "
        "border with Afghanistan", "", "collective forces to be sent"),
    yes("csto-afghan-deploy-decision", "ОДКБ направит коллективные силы на границу "
        "Таджикистана с Афганистаном", "", "коллективные силы, русский"),
    no("csto-afghan-deploy-decision", "CSTO collective forces drill near the Afghan border", "",
       "a drill of the collective forces"),
    yes("csto-afghan-deploy-decision", "Troops head south",
        "CSTO Secretary General said the first CRRF units had deployed to the Afghan border "
        "overnight.", "the deployment reported in the summary"),
    yes("csto-afghan-deploy-decision", "ОДКБ приняла решение о развертывании КСОР на "
        "таджикско-афганской границе", "", "решение о развертывании, русский"),
    no("csto-afghan-deploy-decision", "CSTO has no plans to deploy troops to Afghan border",
       "", "negated plan", "negation"),
    no("csto-afghan-deploy-decision", "CSTO ready to deploy forces if Taliban cross the "
       "Afghan border", "", "conditional readiness", "hypothetical"),
    no("csto-afghan-deploy-decision", "CSTO rehearses deployment of rapid reaction forces "
       "near Afghan border", "", "a rehearsal", "simulation"),
    no("csto-afghan-deploy-decision", "CSTO leaders meet in Dushanbe",
       "Russian peacekeepers were deployed in Karabakh last year. Separately, the Taliban "
       "seized another district.", "the parts in unrelated sentences"),
    no("csto-afghan-deploy-decision", "В ОДКБ исключили ввод войск на афганскую границу", "",
       "ввод войск исключён", "negation"),
    no("csto-afghan-deploy-decision", "ОДКБ проведет учения по развертыванию КСОР у "
       "афганской границы", "", "учения, не развертывание"),

    yes("csto-exercises-tajikistan", "CSTO begins exercises at Harb-Maidon range in "
        "Tajikistan", "", "drills held in Tajikistan"),
    yes("csto-exercises-tajikistan", "Rubezh-2021: CSTO troops drill near Afghan border",
        "The CSTO drill in Tajikistan involves 4,000 troops.", "named exercise in Tajikistan"),
    yes("csto-exercises-tajikistan", "Учения ОДКБ «Взаимодействие-2021» стартовали в "
        "Таджикистане", "", "учения в Таджикистане"),
    yes("csto-exercises-tajikistan", "В Хатлонской области завершились учения ОДКБ", "",
        "учения в Хатлоне"),
    no("csto-exercises-tajikistan", "CSTO will not hold exercises in Tajikistan this year",
       "", "negated", "negation"),
    no("csto-exercises-tajikistan", "CSTO drills open in Kazakhstan",
       "The exercise involves 1,500 troops. Tajikistan's president meanwhile met the Chinese "
       "ambassador.", "Tajikistan only in an unrelated sentence"),
    no("csto-exercises-tajikistan", "ОДКБ не будет проводить учения в Таджикистане", "",
       "отрицание", "negation"),
    no("csto-exercises-tajikistan", "Год назад в Таджикистане прошли учения ОДКБ", "",
       "взгляд назад", "retrospective"),

    yes("russia-201-base-reinforced", "Russia sends new drones and armoured vehicles to its "
        "base in Tajikistan", "", "'its base in' Tajikistan, drones"),
    yes("russia-201-base-reinforced", "Россия передала 201-й базе в Таджикистане новые "
        "беспилотники", "", "беспилотники для базы"),
    no("russia-201-base-reinforced", "Как передали в пресс-службе 201-й базы в Таджикистане, "
       "военные провели субботник", "", "'как передали' is how news is attributed, not a "
          "delivery"),
    yes("russia-201-base-reinforced", "Russia reinforces 201st base in Tajikistan with new "
        "tanks", "", "reinforcement of the 201st"),
    yes("russia-201-base-reinforced", "Russian military base in Tajikistan receives "
        "additional armoured vehicles", "", "additional armour delivered"),
    yes("russia-201-base-reinforced", "На 201-ю российскую военную базу в Таджикистане "
        "поставлены новые танки", "", "поставка танков"),
    yes("russia-201-base-reinforced", "Россия усилит 201-ю базу в Таджикистане "
        "беспилотниками", "", "усиление базы"),
    no("russia-201-base-reinforced", "Moscow has no plans to reinforce the 201st base in "
       "Tajikistan", "", "negated", "negation"),
    no("russia-201-base-reinforced", "Russia could send additional weapons to the 201st base "
       "in Tajikistan if needed", "", "conditional", "hypothetical"),
    no("russia-201-base-reinforced", "201st base in Tajikistan marks anniversary with parade "
       "of tanks and armoured vehicles", "", "an anniversary parade", "retrospective"),
    no("russia-201-base-reinforced", "Putin meets Rahmon",
       "The leaders discussed the 201st base. Separately, Tajikistan received additional "
       "vaccine deliveries from China.", "the parts in unrelated sentences"),
    no("russia-201-base-reinforced", "Минобороны России опровергло переброску "
       "дополнительных танков на 201-ю базу в Таджикистане", "", "опровержение", "negation"),
    no("russia-201-base-reinforced", "Россия может усилить 201-ю базу в Таджикистане в "
       "случае угрозы", "", "предположение", "hypothetical"),

    yes("csto-tajik-afghan-border-aid", "CSTO approves programme to strengthen Tajik-Afghan "
        "border", "", "a border programme"),
    yes("csto-tajik-afghan-border-aid", "CSTO members to send equipment to Tajikistan's border "
        "guards", "", "equipment for the border guards"),
    yes("csto-tajik-afghan-border-aid", "ОДКБ утвердила целевую программу укрепления "
        "таджикско-афганской границы", "", "целевая программа"),
    yes("csto-tajik-afghan-border-aid", "Страны ОДКБ передадут Таджикистану технику для "
        "оснащения пограничных застав", "", "оснащение застав"),
    no("csto-tajik-afghan-border-aid", "CSTO could help Tajikistan strengthen its Afghan "
       "border if asked", "", "conditional offer", "hypothetical"),
    no("csto-tajik-afghan-border-aid", "CSTO secretary general visits Dushanbe",
       "He discussed the situation on the Tajik-Afghan border. Earlier, the EU announced aid "
       "for Afghan refugees.", "aid in an unrelated sentence"),
    no("csto-tajik-afghan-border-aid", "ОДКБ не будет финансировать укрепление "
       "таджикско-афганской границы", "", "отрицание", "negation"),
    no("csto-tajik-afghan-border-aid", "Год назад ОДКБ приняла программу помощи Таджикистану "
       "на границе", "", "взгляд назад", "retrospective"),

    yes("afghan-spillover-attack", "Rockets fired from Afghanistan hit Uzbek city of Termez",
        "", "rockets across the border"),
    yes("afghan-spillover-attack", "Tajik border guards repel incursion by armed group from "
        "Afghanistan", "", "an incursion"),
    yes("afghan-spillover-attack", "С территории Афганистана обстреляли таджикскую заставу",
        "", "обстрел заставы"),
    yes("afghan-spillover-attack", "Боевики ИГИЛ совершили нападение на пограничный пост "
        "Узбекистана со стороны Афганистана", "", "нападение на пост"),
    no("afghan-spillover-attack", "Taliban deny attack on Tajik border post", "",
       "denied", "negation"),
    no("afghan-spillover-attack", "Uzbekistan warns of possible rocket attacks from "
       "Afghanistan", "", "a possibility", "hypothetical"),
    no("afghan-spillover-attack", "Tajikistan hold Afghanistan to goalless draw in football "
       "clash", "", "sport"),
    no("afghan-spillover-attack", "Талибы опровергли информацию об обстреле таджикской "
       "территории", "", "опровержение", "negation_after"),
    no("afghan-spillover-attack", "Таджикистан усилил охрану границы",
       "Талибы заняли ещё три района на севере Афганистана. В Хороге прошли столкновения "
       "местных жителей с полицией.", "части события в разных предложениях"),

    # --- uzbekistan-rejoins --------------------------------------------------------------
    yes("uz-csto-talks", "Uzbekistan discusses CSTO membership with Moscow", "",
        "membership discussed"),
    yes("uz-csto-talks", "Russian diplomat invites Uzbekistan to return to the CSTO", "",
        "return floated"),
    yes("uz-csto-talks", "В Ташкенте обсуждают возвращение в ОДКБ", "", "возвращение"),
    yes("uz-csto-talks", "Uzbek officials discuss returning to the CSTO", "",
        "the adjective names the country"),
    yes("uz-csto-talks", "Мирзиёев ответил на вопрос о членстве Узбекистана в ОДКБ", "",
        "вопрос о членстве"),
    no("uz-csto-talks", "Uzbekistan rules out return to CSTO", "", "ruled out", "negation"),
    no("uz-csto-talks", "Uzbekistan could rejoin the CSTO if the Afghan threat grows, "
       "Tashkent says", "", "a condition, not talks", "hypothetical"),
    no("uz-csto-talks", "Uzbekistan could rejoin CSTO if Afghan threat grows, analyst says",
       "", "an analyst's speculation: commentary", "retrospective"),
    no("uz-csto-talks", "CSTO foreign ministers meet in Dushanbe",
       "Uzbekistan's delegation returned from Moscow on Monday.", "returned, another story"),
    no("uz-csto-talks", "Ташкент не намерен возвращаться в ОДКБ", "", "отрицание",
       "negation"),
    no("uz-csto-talks", "Десять лет назад Узбекистан приостановил членство в ОДКБ", "",
       "взгляд назад", "retrospective"),

    yes("uz-csto-formal-step", "Uzbekistan submits application to restore CSTO membership",
        "", "an application"),
    yes("uz-csto-formal-step", "Uzbek Senate ratifies CSTO protocol", "", "ratification"),
    yes("uz-csto-formal-step", "Узбекская сторона подала заявку на восстановление членства в "
        "ОДКБ", "", "заявка, прилагательное"),
    yes("uz-csto-formal-step", "Ташкент подал заявку на восстановление членства в ОДКБ", "",
        "заявка"),
    yes("uz-csto-formal-step", "Сенат Узбекистана ратифицировал протокол о возвращении в "
        "ОДКБ", "", "ратификация"),
    no("uz-csto-formal-step", "Tashkent has not applied to rejoin CSTO, ministry says", "",
       "negated", "negation"),
    no("uz-csto-formal-step", "Mirziyoyev and Japarov sign border protocol",
       "The CSTO welcomed the agreement.", "another protocol, CSTO in another sentence"),
    no("uz-csto-formal-step", "Узбекистан может возобновить членство в ОДКБ, считает "
       "эксперт", "", "предположение", "hypothetical"),
    no("uz-csto-formal-step", "МИД Узбекистана опроверг сообщения о заявке на вступление в "
       "ОДКБ", "", "опровержение", "negation_after"),

    yes("uz-csto-observer-status", "Uzbekistan seeks observer status at CSTO", "",
        "observer status sought"),
    yes("uz-csto-observer-status", "CSTO grants Uzbekistan partner status", "",
        "partner status granted"),
    yes("uz-csto-observer-status", "Узбекистан получил статус наблюдателя в ОДКБ", "",
        "статус наблюдателя"),
    yes("uz-csto-observer-status", "ОДКБ предложила Ташкенту статус партнера", "",
        "статус партнера"),
    yes("uz-csto-observer-status", "Uzbek diplomats explore CSTO observer status", "",
        "the adjective names the country"),
    no("uz-csto-observer-status", "Uzbekistan not seeking CSTO observer status, minister "
       "says", "", "negated", "negation"),
    no("uz-csto-observer-status", "Uzbekistan could seek CSTO observer status, analyst "
       "suggests", "", "an analyst's speculation: commentary", "retrospective"),
    no("uz-csto-observer-status", "Узбекистан направит наблюдателей на выборы в Кыргызстане",
       "Тем временем в ОДКБ обсудили ситуацию в Афганистане.",
       "наблюдатели на выборах, ОДКБ в другом предложении"),
    no("uz-csto-observer-status", "Ташкент не рассматривает статус наблюдателя в ОДКБ", "",
       "отрицание", "negation"),

    yes("uz-csto-exercise-participation", "Uzbek troops take part in CSTO exercise in "
        "Tajikistan", "", "troops in a CSTO exercise"),
    yes("uz-csto-exercise-participation", "Uzbekistan participates in CSTO drills for first "
        "time since 2012", "", "participation"),
    yes("uz-csto-exercise-participation", "Военные Узбекистана приняли участие в учениях "
        "ОДКБ", "", "участие в учениях"),
    yes("uz-csto-exercise-participation", "Узбекские военные участвуют в учениях ОДКБ в "
        "Таджикистане", "", "участвуют"),
    no("uz-csto-exercise-participation", "Uzbekistan will not take part in CSTO exercises", "",
       "negated", "negation"),
    no("uz-csto-exercise-participation", "Uzbekistan declined to take part in CSTO drills", "",
       "a refusal", "negation"),
    no("uz-csto-exercise-participation", "Ташкент отказался от участия в учениях ОДКБ", "",
       "отказ", "negation"),
    yes("uz-csto-exercise-participation", "Узбекские офицеры участвуют в командно-штабных "
        "учениях ОДКБ", "", "командно-штабные учения: настоящие учения"),
    no("uz-csto-exercise-participation", "Uzbekistan could take part in CSTO drills, Russian "
       "general says", "", "speculation", "hypothetical"),
    no("uz-csto-exercise-participation", "CSTO exercise opens in Tajikistan",
       "Uzbekistan's defence minister was in Beijing.", "Uzbekistan in another sentence"),
    no("uz-csto-exercise-participation", "Узбекистан не участвует в учениях ОДКБ", "",
       "отрицание", "negation"),
    no("uz-csto-exercise-participation", "Год назад узбекские офицеры участвовали в учениях "
       "ОДКБ как гости", "", "взгляд назад", "retrospective"),
    yes("uz-csto-exercise-participation", "Uzbek deputy foreign minister at CSTO meeting on "
        "Afghanistan", "", "a CSTO meeting (the description's word)"),
    yes("uz-csto-exercise-participation", "Министр обороны Узбекистана выступил на встрече "
        "министров обороны ОДКБ", "", "встреча ОДКБ"),
    no("uz-csto-exercise-participation", "Uzbekistan will not attend CSTO meeting in Minsk", "",
       "negated", "negation"),
    no("uz-csto-exercise-participation", "Узбекистан не примет участия во встрече ОДКБ", "",
       "отрицание", "negation"),
    no("uz-csto-exercise-participation", "CSTO foreign ministers hold meeting in Yerevan",
       "Uzbekistan's foreign minister was on a visit to Seoul.",
       "Uzbekistan in another sentence"),

    yes("uz-nonalignment-reaffirmed", "Uzbekistan will not join any military-political bloc, "
        "Mirziyoyev says", "", "the refusal is the signpost"),
    yes("uz-nonalignment-reaffirmed", "Tashkent reaffirms non-aligned foreign policy", "",
        "non-aligned reaffirmed"),
    yes("uz-nonalignment-reaffirmed", "Uzbek foreign minister: we will stay out of military "
        "alliances", "", "the adjective names the country"),
    yes("uz-nonalignment-reaffirmed", "Узбекистан не будет вступать в военно-политические "
        "блоки — МИД", "", "отказ от блоков"),
    yes("uz-nonalignment-reaffirmed", "Мирзиёев подтвердил внеблоковый статус Узбекистана",
        "", "внеблоковый статус"),
    no("uz-nonalignment-reaffirmed", "Uzbekistan could join a military bloc with Russia, "
       "analyst says", "", "an analyst's speculation: commentary", "retrospective"),
    no("uz-nonalignment-reaffirmed", "Tashkent hosts Central Asian summit",
       "Kazakhstan's president warned against dividing the world into military blocs.",
       "blocs in a sentence without Uzbekistan"),
    no("uz-nonalignment-reaffirmed", "Узбекистан может отказаться от внеблокового статуса, "
       "считают эксперты", "", "предположение", "hypothetical"),
    no("uz-nonalignment-reaffirmed", "Десять лет назад Узбекистан отказался от участия в "
       "военных блоках", "", "взгляд назад", "retrospective"),

    # --- azerbaijan-joins ----------------------------------------------------------------
    yes("az-csto-membership-talk", "Russian MP invites Azerbaijan to join CSTO", "",
        "membership floated"),
    yes("az-csto-membership-talk", "Aliyev asked about CSTO membership at Valdai forum", "",
        "membership discussed"),
    yes("az-csto-membership-talk", "Azerbaijani MP floats joining the CSTO", "",
        "the adjective names the country"),
    yes("az-csto-membership-talk", "В Госдуме предложили Азербайджану вступить в ОДКБ", "",
        "предложение вступить"),
    yes("az-csto-membership-talk", "Алиев ответил на вопрос о членстве в ОДКБ", "",
        "вопрос о членстве"),
    no("az-csto-membership-talk", "Aliyev: Azerbaijan has no intention of joining CSTO", "",
       "negated", "negation"),
    no("az-csto-membership-talk", "CSTO summit opens in Yerevan",
       "Azerbaijan joined Turkey in condemning the final statement.", "joined, another story"),
    no("az-csto-membership-talk", "Баку не собирается вступать в ОДКБ", "", "отрицание",
       "negation"),
    no("az-csto-membership-talk", "Азербайджан мог бы вступить в ОДКБ, считает политолог",
       "", "предположение", "hypothetical"),

    yes("az-csto-observer-status", "Azerbaijan applies for observer status in CSTO", "",
        "observer status sought"),
    yes("az-csto-observer-status", "CSTO offers Baku partner status", "",
        "partner status offered"),
    yes("az-csto-observer-status", "Azerbaijani diplomats discuss CSTO observer status", "",
        "the adjective names the country"),
    yes("az-csto-observer-status", "Азербайджан запросил статус наблюдателя при ОДКБ", "",
        "статус наблюдателя"),
    yes("az-csto-observer-status", "ОДКБ предоставила Азербайджану статус партнёра", "",
        "статус партнёра"),
    no("az-csto-observer-status", "Baku dismisses talk of CSTO observer status", "",
       "dismissed", "negation"),
    no("az-csto-observer-status", "Azerbaijan votes in snap parliamentary election",
       "Observers from the CIS and the CSTO Parliamentary Assembly said the vote was orderly.",
       "election observers, Azerbaijan in another sentence"),
    no("az-csto-observer-status", "Азербайджан не претендует на статус наблюдателя в ОДКБ",
       "", "отрицание", "negation"),
    no("az-csto-observer-status", "Азербайджан мог бы стать наблюдателем в ОДКБ", "",
       "предположение", "hypothetical"),

    yes("az-russia-allied-declaration", "Putin and Aliyev sign declaration on allied "
        "interaction", "", "the declaration signed"),
    yes("az-russia-allied-declaration", "Moscow and Baku raise relations to the level of "
        "alliance", "", "upgrade to an alliance"),
    yes("az-russia-allied-declaration", "Russian and Azerbaijani leaders sign allied "
        "interaction declaration", "", "the adjective names the country"),
    yes("az-russia-allied-declaration", "Путин и Алиев подписали декларацию о союзническом "
        "взаимодействии", "", "декларация подписана"),
    yes("az-russia-allied-declaration", "Азербайджан и Россия вышли на уровень союзнических "
        "отношений", "", "союзнические отношения"),
    no("az-russia-allied-declaration", "Baku denies plans for military alliance with Moscow",
       "", "denied", "negation"),
    no("az-russia-allied-declaration", "Aliyev hails alliance with Turkey",
       "He spoke after talks with Putin in Moscow on gas transit.",
       "an alliance with Turkey; Russia in another sentence"),
    no("az-russia-allied-declaration", "Баку отрицает подготовку союзнического договора с "
       "Москвой", "", "отрицание", "negation"),
    no("az-russia-allied-declaration", "Год назад Путин и Алиев подписали декларацию о "
       "союзническом взаимодействии", "", "взгляд назад", "retrospective"),

    yes("az-turkey-alliance-deepens", "Azerbaijan and Turkey sign Shusha Declaration on "
        "allied relations", "", "the declaration signed"),
    yes("az-turkey-alliance-deepens", "Turkish and Azerbaijani troops start drills in "
        "Nakhchivan", "The joint exercises will last ten days.",
        "the partners in the headline, the drills in the summary"),
    yes("az-turkey-alliance-deepens", "Азербайджан и Турция провели совместные учения", "",
        "совместные учения"),
    yes("az-turkey-alliance-deepens", "Азербайджан и Турция договорились о военном союзе", "",
        "военный союз"),
    no("az-turkey-alliance-deepens", "Azerbaijan has no plans for a defence pact with Turkey",
       "", "negated", "negation"),
    no("az-turkey-alliance-deepens", "Baku hosts energy forum",
       "Turkish officials attended. NATO said its alliance would hold exercises in the Baltic.",
       "the alliance of another story"),
    no("az-turkey-alliance-deepens", "Турция не будет заключать военный союз с "
       "Азербайджаном", "", "отрицание", "negation"),
    no("az-turkey-alliance-deepens", "Турция и Азербайджан: братский союз на футбольном поле",
       "", "спорт"),

    yes("az-nonalignment-reaffirmed", "Aliyev: Azerbaijan will not join any military bloc",
        "", "the refusal is the signpost"),
    yes("az-nonalignment-reaffirmed", "Baku reaffirms it stays out of military-political "
        "blocs", "", "non-alignment reaffirmed"),
    yes("az-nonalignment-reaffirmed", "Azerbaijani foreign minister rules out joining "
        "military blocs", "", "the refusal is the signpost"),
    yes("az-nonalignment-reaffirmed", "Алиев: Азербайджан не вступит ни в какие военные "
        "блоки", "", "отказ от блоков"),
    yes("az-nonalignment-reaffirmed", "Баку сохранит внеблоковый статус", "",
        "внеблоковый статус"),
    no("az-nonalignment-reaffirmed", "Azerbaijan could join a military bloc with Turkey, "
       "analyst says", "", "an analyst's speculation: commentary", "retrospective"),
    no("az-nonalignment-reaffirmed", "Aliyev meets Lukashenko in Baku",
       "Belarus remains in the CSTO military bloc, Lukashenko said.",
       "a bloc in a sentence without Azerbaijan"),
    no("az-nonalignment-reaffirmed", "Азербайджан может вступить в военный блок с Турцией",
       "", "предположение", "hypothetical"),
    no("az-nonalignment-reaffirmed", "Год назад Алиев заявил о внеблоковом статусе "
       "Азербайджана", "", "взгляд назад", "retrospective"),

    # --- armenia-csto-status -------------------------------------------------------------
    yes("am-csto-withdrawal-talk", "Armenian opposition demands exit from CSTO", "",
        "exit demanded"),
    yes("am-csto-withdrawal-talk", "Armenian parliament debates bill on withdrawal from CSTO",
        "", "a withdrawal bill"),
    yes("am-csto-withdrawal-talk", "Пашинян допустил выход Армении из ОДКБ", "",
        "выход допущен"),
    yes("am-csto-withdrawal-talk", "В парламенте Армении предложили выйти из ОДКБ", "",
        "предложение выйти"),
    yes("am-csto-withdrawal-talk", "Pashinyan says Armenia could leave the CSTO", "",
        "raising it, even as a possibility, is the signpost"),
    no("am-csto-withdrawal-talk", "Pashinyan: Armenia is not going to leave the CSTO", "",
       "negated", "negation"),
    no("am-csto-withdrawal-talk", "Armenia marks Independence Day",
       "In Kazakhstan, the CSTO chief said refugees would be free to leave the camps.",
       "leave in another story"),
    no("am-csto-withdrawal-talk", "Ереван опроверг слухи о выходе из ОДКБ", "",
       "опровержение", "negation_after"),
    no("am-csto-withdrawal-talk", "Армения не намерена выходить из ОДКБ", "", "отрицание",
       "negation"),
    no("am-csto-withdrawal-talk", "Thousands rally in Yerevan demanding Armenia quit the CSTO",
       "", "a street protest, not officials or parliament"),
    no("am-csto-withdrawal-talk", "Участники митинга в Ереване потребовали выхода из ОДКБ", "",
       "митинг, а не власти"),

    yes("am-csto-freeze", "Armenia freezes participation in CSTO, Pashinyan says", "",
        "freeze announced"),
    yes("am-csto-freeze", "Pashinyan speaks on Armenia's ties with the CSTO",
        "He said Yerevan had effectively frozen its participation in the bloc.",
        "the freeze in the summary, the parties in the headline"),
    yes("am-csto-freeze", "Pashinyan confirms Armenia froze its participation in CSTO", "",
        "past tense of freeze"),
    yes("am-csto-freeze", "Армения заморозила участие в ОДКБ", "", "заморозка"),
    yes("am-csto-freeze", "Пашинян объявил о приостановке участия Армении в ОДКБ", "",
        "приостановка"),
    no("am-csto-freeze", "Armenia is not freezing its CSTO membership, foreign ministry says",
       "", "negated", "negation"),
    no("am-csto-freeze", "Armenia could freeze CSTO membership if bloc stays silent", "",
       "conditional", "hypothetical"),
    no("am-csto-freeze", "A year after Armenia froze CSTO participation, Yerevan weighs next "
       "step", "", "a look back", "retrospective"),
    no("am-csto-freeze", "Армения может заморозить участие в ОДКБ", "", "предположение",
       "hypothetical"),
    no("am-csto-freeze", "В Ереване опровергли заморозку участия в ОДКБ", "", "опровержение",
       "negation_after"),

    yes("am-csto-no-show", "Pashinyan will not attend CSTO summit in Minsk", "",
        "a refusal to attend"),
    yes("am-csto-no-show", "Armenia refuses to host CSTO exercises", "",
        "a refusal to host"),
    yes("am-csto-no-show", "CSTO summit held without Armenia", "", "without Armenia"),
    yes("am-csto-no-show", "Armenia will not take part in CSTO drills, Pashinyan says", "",
        "not taking part in the drills (the Russian list had it, the English did not)"),
    yes("am-csto-no-show", "Армения не приняла участия в заседании ОДКБ в Минске", "",
        "не приняла участия"),
    yes("am-csto-no-show", "Пашинян не примет участия в саммите ОДКБ", "",
        "неучастие в саммите"),
    yes("am-csto-no-show", "Армения отказалась проводить учения ОДКБ на своей территории",
        "", "отказ принять учения"),
    no("am-csto-no-show", "Armenia could skip the CSTO summit, sources say", "",
       "speculation", "hypothetical"),
    no("am-csto-no-show", "Two years ago Armenia refused to host CSTO drills", "",
       "a look back", "retrospective"),
    no("am-csto-no-show", "CSTO defence ministers meet in Almaty",
       "Armenia's minister attended the session. Kyrgyzstan's delegate was absent due to "
       "illness.", "someone else absent"),
    no("am-csto-no-show", "Армения может отказаться от участия в саммите ОДКБ", "",
       "предположение", "hypothetical"),
    no("am-csto-no-show", "Год назад Армения отказалась от учений ОДКБ", "", "взгляд назад",
       "retrospective"),
    yes("am-csto-no-show", "Armenia turns down invitation to CSTO command-staff exercise",
        "", "turning down is refusing"),
    yes("am-csto-no-show", "Ереван отклонил приглашение на саммит ОДКБ", "",
        "отклонил: отказ"),
    no("am-csto-no-show", "Armenia could turn down the CSTO post, sources say", "",
       "speculation", "hypothetical"),
    no("am-csto-no-show", "Армения может отклонить приглашение ОДКБ", "", "предположение",
       "hypothetical"),

    yes("am-csto-criticism", "Pashinyan criticises CSTO inaction over border incursion", "",
        "criticism"),
    yes("am-csto-criticism", "Armenian PM speaks on the CSTO",
        "He said the bloc had failed to meet its obligations.",
        "the criticism in the summary"),
    yes("am-csto-criticism", "Пашинян раскритиковал ОДКБ за бездействие", "",
        "критика бездействия"),
    yes("am-csto-criticism", "Армения обвинила ОДКБ в невыполнении обязательств", "",
        "невыполнение обязательств"),
    no("am-csto-criticism", "Armenian envoy denies criticising CSTO", "", "denied",
       "negation"),
    no("am-csto-criticism", "CSTO secretary general tours Central Asia",
       "Armenian officials were not on the itinerary. Analysts criticised the Kazakh "
       "government's economic plan.", "criticism of someone else"),
    no("am-csto-criticism", "Ереван не критикует ОДКБ, заявил глава МИД", "", "отрицание",
       "negation"),
    no("am-csto-criticism", "Пашинян может выступить с критикой ОДКБ на саммите", "",
       "предположение", "hypothetical"),

    yes("am-csto-active-participation", "Pashinyan attends CSTO summit in Dushanbe", "",
        "at the summit"),
    yes("am-csto-active-participation", "Armenia takes over CSTO chairmanship", "",
        "chairmanship"),
    yes("am-csto-active-participation", "Армения приняла председательство в ОДКБ", "",
        "председательство"),
    yes("am-csto-active-participation", "Армянские военные участвуют в учениях ОДКБ", "",
        "участие в учениях"),
    no("am-csto-active-participation", "Armenia refuses to attend CSTO summit", "",
       "a refusal"),
    no("am-csto-active-participation", "Armenia will not attend CSTO summit in Minsk", "",
       "negated", "negation"),
    no("am-csto-active-participation", "Армения не будет участвовать в учениях ОДКБ", "",
       "отрицание", "negation"),
    no("am-csto-active-participation", "Саммит ОДКБ прошел без Армении", "", "без Армении"),
    # a report reader's headline: a skipped summit was counted as taking part
    no("am-csto-active-participation", "Armenia skips CSTO summit in Moscow", "", "skipped"),
    no("am-csto-active-participation", "Армения пропустит саммит ОДКБ в Москве", "",
       "пропустит"),
    yes("am-csto-no-show", "Armenia skips CSTO summit in Moscow", "", "a skipped summit"),
    # ... and "skips" is no negation of the freeze in the same sentence
    yes("am-csto-freeze", "Pashinyan skips CSTO summit as Armenia freezes its participation",
        "", "skip and freeze"),

    # --- csto-article-4-deployment -------------------------------------------------------
    yes("csto-article-4-invoked", "Armenia invokes Article 4 of CSTO treaty", "",
        "invoked"),
    yes("csto-article-4-invoked", "Tajikistan asks CSTO to apply Article 4 as fighting "
        "spreads", "", "formally raised"),
    yes("csto-article-4-invoked", "Армения запросила консультации ОДКБ по статье 4 договора",
        "", "консультации по статье 4"),
    yes("csto-article-4-invoked", "Токаев обратился к ОДКБ на основании статьи 4", "",
        "обращение по статье 4"),
    no("csto-article-4-invoked", "CSTO rules out invoking Article 4", "", "ruled out",
       "negation"),
    no("csto-article-4-invoked", "Kazakhstan could invoke Article 4 of the CSTO treaty, "
       "expert says", "", "speculation", "hypothetical"),
    no("csto-article-4-invoked", "CSTO envoy in Bishkek",
       "Parliament amended Article 4 of the constitution.", "another Article 4"),
    no("csto-article-4-invoked", "ОДКБ не применит статью 4 в этом конфликте", "",
       "отрицание", "negation"),
    no("csto-article-4-invoked", "Армения может обратиться к ОДКБ по статье 4", "",
       "предположение", "hypothetical"),

    yes("csto-member-requests-help", "Kazakhstan asks CSTO for military assistance", "",
        "a request"),
    yes("csto-member-requests-help", "Tajikistan to ask CSTO for military assistance", "",
        "a request announced"),
    yes("csto-member-requests-help", "Armenia formally requested CSTO assistance after border "
        "incursion", "", "a formal request"),
    yes("csto-member-requests-help", "Токаев обратился к ОДКБ за помощью", "",
        "обращение за помощью"),
    yes("csto-member-requests-help", "Армения направила в ОДКБ запрос о военной помощи", "",
        "запрос о помощи"),
    no("csto-member-requests-help", "Tajikistan has not asked CSTO for troops, officials say",
       "", "negated", "negation"),
    no("csto-member-requests-help", "Tajikistan could ask CSTO for military help if Taliban "
       "attack", "", "conditional", "hypothetical"),
    no("csto-member-requests-help", "CSTO chief comments on Afghan situation",
       "Reporters asked about refugee flows. The UN appealed for humanitarian assistance.",
       "requests of others in other sentences"),
    no("csto-member-requests-help", "Таджикистан не обратился к ОДКБ за помощью", "",
       "отрицание", "negation"),
    no("csto-member-requests-help", "Бишкек может запросить помощь ОДКБ", "",
       "предположение", "hypothetical"),
    no("csto-member-requests-help", "At the CSTO summit Pashinyan asked partners to state "
       "their position on the Azerbaijani troops", "", "asking about troops, not for them"),

    yes("csto-forces-arrive", "CSTO peacekeepers land in Kazakhstan", "", "landing"),
    yes("csto-forces-arrive", "First CSTO peacekeepers arrive in Almaty", "", "arrival"),
    yes("csto-afghan-threat-warning", "По мнению генсека ОДКБ, угроза с территории "
        "Афганистана растёт", "", "an official's view is news, not commentary"),
    yes("csto-exercises-tajikistan", "CSTO artillery strikes a mock column at Harbmaidon, "
        "Tajikistan, in Interaction-2021", "", "an exercise by its name"),
    yes("csto-member-requests-help", "Armenia decides to address the CSTO for military "
        "assistance", "", "addressing the bloc for help"),
    yes("kg-tj-ceasefire", "Kyrgyz and Tajik troops carry out the agreed pull-back", "",
        "a pull-back"),
    yes("am-csto-withdrawal-talk", "Pashinyan: Armenia already considers itself outside the "
        "CSTO", "", "outside the bloc"),
    yes("csto-forces-arrive", "Десантники переброшены в Казахстан в составе сил ОДКБ", "",
        "переброшены: a form the stem переброс* misses"),
    yes("csto-member-requests-help", "Tokayev says he asked leaders of the Russian-led bloc "
        "for help", "", "the bloc by description, help within ten words"),
    yes("csto-kg-tj-mediation", "Лукашенко предложил ОДКБ помогать в урегулировании "
        "киргизско-таджикского конфликта", "", "settlement is the event here, not a cue"),
    yes("kg-tj-border-shooting", "У заставы погиб таджикский пограничник",
        "Киргизская погранслужба сообщила о выстрелах с таджикской стороны.",
        "выстрелы at a border post"),
    yes("afghan-spillover-attack", "На Термез упали снаряды с афганской стороны", "",
        "shells, not only shelling"),
    yes("csto-forces-arrive", "CSTO rapid reaction force deployed to Kazakhstan", "",
        "deployment"),
    yes("csto-forces-arrive", "Миротворцы ОДКБ прибыли в Алма-Ату", "", "прибытие"),
    yes("csto-forces-arrive", "Россия перебрасывает миротворцев ОДКБ в Казахстан", "",
        "переброска"),
    yes("csto-forces-arrive", "Belarusian paratroopers airlifted to Kazakhstan with the CSTO "
        "force", "", "an airlift"),
    no("csto-forces-arrive", "ОДКБ направит миротворцев в Казахстан", "",
       "решение в будущем времени, а не прибытие"),
    no("csto-forces-arrive", "CSTO peacekeepers deploy for exercises in Kyrgyzstan", "",
       "an exercise"),
    no("csto-forces-arrive", "CSTO says no peacekeepers will be sent to Armenia", "",
       "negated", "negation"),
    no("csto-forces-arrive", "CSTO ready to deploy peacekeepers to Kyrgyz-Tajik border", "",
       "readiness only", "hypothetical"),
    no("csto-forces-arrive", "Миротворцы ОДКБ не будут направлены в Армению", "",
       "отрицание", "negation"),
    no("csto-forces-arrive", "Миротворцы ОДКБ отработали десантирование и развертывание в "
       "Кыргызстане", "", "отработка", "simulation"),

    yes("csto-afghan-threat-warning", "CSTO chief warns of threat from Afghanistan", "",
        "a warning"),
    yes("csto-afghan-threat-warning", "CSTO secretary general on Afghanistan",
        "He said militants could try to cross into Central Asia.",
        "the warning in the summary; could is what a warning says"),
    yes("csto-afghan-threat-warning", "ОДКБ предупреждает об угрозе со стороны Афганистана",
        "", "предупреждение"),
    yes("csto-afghan-threat-warning", "Генсек ОДКБ: угроза из Афганистана растёт", "",
        "угроза растёт"),
    no("csto-afghan-threat-warning", "CSTO sees no threat from Taliban, says secretary "
       "general", "", "negated", "negation"),
    no("csto-afghan-threat-warning", "Central Asian leaders meet in Dushanbe",
       "CSTO chief Zas attended. Separately, Pakistan warned of militants crossing from "
       "Afghanistan.", "the warning of another country"),
    no("csto-afghan-threat-warning", "Twenty years ago, CSTO warned of Taliban threat", "",
       "a look back", "retrospective"),
    no("csto-afghan-threat-warning", "В ОДКБ не видят угрозы со стороны Афганистана", "",
       "отрицание", "negation"),
    no("csto-afghan-threat-warning", "ОДКБ отработает отражение угрозы из Афганистана", "",
       "отработка", "simulation"),

    yes("csto-member-unrest", "CSTO to discuss unrest in Kazakhstan at emergency session", "",
        "unrest on the agenda"),
    yes("csto-member-unrest", "CSTO statement on Almaty",
        "The bloc called the riots an attempted coup backed from abroad.",
        "the unrest in the summary"),
    yes("csto-member-unrest", "ОДКБ обсудит беспорядки в Казахстане", "", "беспорядки"),
    yes("csto-member-unrest", "Генсек ОДКБ назвал события в Казахстане попыткой переворота",
        "", "попытка переворота"),
    no("csto-member-unrest", "CSTO: no unrest reported in member states during elections",
       "", "negated", "negation"),
    no("csto-member-unrest", "CSTO rehearses response to mass riots in Kyrgyzstan", "",
       "a rehearsal", "simulation"),
    no("csto-member-unrest", "Силы ОДКБ отработали пресечение массовых беспорядков", "",
       "отработка", "simulation"),
    no("csto-member-unrest", "ОДКБ готова помочь в случае беспорядков", "",
       "предположение", "hypothetical"),
    yes("csto-member-unrest", "CSTO says its peacekeeping operation in Kazakhstan will last "
        "days", "", "the bloc's operation in a member state"),
    yes("csto-member-unrest", "Belarusian paratroopers join the CSTO peacekeeping contingent "
        "in Kazakhstan", "", "the bloc's contingent in a member state"),
    yes("csto-member-unrest", "Миротворцы ОДКБ приступили к охране объектов в Казахстане", "",
        "миротворцы ОДКБ в стране-члене"),
    yes("csto-member-unrest", "Совет коллективной безопасности ОДКБ осудил попытку захвата "
        "власти в Казахстане", "", "захват власти: переворот"),
    yes("csto-member-unrest", "CSTO leaders condemn attempted power grab in Kazakhstan", "",
        "a power grab is a coup"),
    no("csto-member-unrest", "CSTO peacekeeping contingents arrive in Tajikistan",
       "The Indestructible Brotherhood exercise opens on Monday.", "a drill of the force"),
    no("csto-member-unrest", "CSTO completes withdrawal of its peacekeeping force from "
       "Kazakhstan", "", "the force leaving, not reacting"),
    no("csto-member-unrest", "CSTO could send peacekeeping forces to Armenia, Pashinyan says",
       "", "speculation", "hypothetical"),
    no("csto-member-unrest", "Pashinyan faults CSTO and the Russian peacekeeping contingent "
       "over Karabakh", "", "Russia's Karabakh peacekeepers are no CSTO force"),
    no("csto-member-unrest", "Миротворческий контингент ОДКБ прибыл в Таджикистан на учения "
       "«Нерушимое братство»", "", "учения"),
    no("csto-member-unrest", "Завершён вывод миротворцев ОДКБ из Казахстана", "",
       "вывод сил, не реакция"),
    no("csto-member-unrest", "ОДКБ может направить миротворческие силы в Армению", "",
       "предположение", "hypothetical"),

    # --- kyrgyz-tajik-border -------------------------------------------------------------
    yes("kg-tj-border-shooting", "Kyrgyz and Tajik border guards exchange fire near Vorukh",
        "", "an exchange of fire"),
    yes("kg-tj-border-shooting", "Shooting reported on Kyrgyz-Tajik border", "",
        "shooting"),
    yes("kg-tj-border-shooting", "Kyrgyz and Tajik troops exchanged fire near Isfara",
        "", "fire exchanged"),
    yes("kg-tj-border-shooting", "На кыргызско-таджикской границе произошла перестрелка", "",
        "перестрелка"),
    yes("kg-tj-border-shooting", "Столкновения на границе",
        "Пограничники Кыргызстана и Таджикистана открыли огонь у села Ворух.",
        "стороны в описании"),
    no("kg-tj-border-shooting", "Kyrgyz and Tajik fighters clash at Batken MMA night", "",
       "sport"),
    no("kg-tj-border-shooting", "Kyrgyz border service denies reports of shooting on Tajik "
       "border", "", "denied", "negation"),
    no("kg-tj-border-shooting", "A year after the deadly fighting, Kyrgyz and Tajik border "
       "villages rebuild", "", "a look back", "retrospective"),
    no("kg-tj-border-shooting", "Kyrgyz and Tajik villagers clash over water at the border",
       "", "a clash is not shooting (stones and fists, in these villages)"),
    no("am-csto-no-show", "Analysis: can the CSTO keep Armenia after the Yerevan summit?",
       "Commentators say Pashinyan's refusal to sign the declaration exposed a rift.",
       "commentary, not news", "retrospective"),
    no("kg-tj-border-shooting", "Погранслужба Кыргызстана опровергла сообщения о перестрелке "
       "на границе с Таджикистаном", "", "опровержение", "negation_after"),
    no("kg-tj-border-shooting", "Кыргызские пограничники отработали отражение обстрела со "
       "стороны Таджикистана у границы", "", "отработка", "simulation"),

    yes("kg-tj-border-deaths", "Kyrgyz-Tajik border clash",
        "Two border guards were killed and five wounded, the health ministry said.",
        "the toll in the summary"),
    yes("kg-tj-border-deaths", "Death toll in Kyrgyz-Tajik border fighting rises to 31", "",
        "death toll"),
    yes("kg-tj-border-deaths", "Число погибших в конфликте на кыргызско-таджикской границе "
        "выросло до 50", "", "число погибших"),
    yes("kg-tj-border-deaths", "В столкновениях на границе Киргизии и Таджикистана погибли "
        "трое", "", "погибли"),
    no("kg-tj-border-deaths", "No deaths reported after shooting on Kyrgyz-Tajik border", "",
       "negated", "negation"),
    no("kg-tj-border-deaths", "Anniversary of Kyrgyz-Tajik border clash: families remember "
       "the dead", "", "an anniversary", "retrospective"),
    no("kg-tj-border-deaths", "Kyrgyz bus crash kills five Tajik migrants in Russia", "",
       "deaths without a border"),
    no("kg-tj-border-deaths", "На кыргызско-таджикской границе обошлось без жертв", "",
       "без жертв", "negation"),
    no("kg-tj-border-deaths", "В ДТП под Бишкеком погибли граждане Таджикистана", "",
       "ДТП, не граница"),

    yes("kg-tj-heavy-weapons", "Kyrgyzstan accuses Tajikistan of using drones and mortars "
        "on border", "", "drones and mortars"),
    yes("kg-tj-heavy-weapons", "Thousands evacuated from Kyrgyz villages as Tajik artillery "
        "shells Batken", "", "evacuation and artillery"),
    yes("kg-tj-heavy-weapons", "Кыргызстан обвинил Таджикистан в применении ударных "
        "беспилотников", "", "беспилотники"),
    yes("kg-tj-heavy-weapons", "Кыргызстан эвакуирует жителей приграничных сёл из-за "
        "обстрелов со стороны Таджикистана", "", "эвакуация"),
    yes("kg-tj-heavy-weapons", "Таджикские военные обстреляли кыргызские сёла из минометов",
        "", "минометы"),
    no("kg-tj-heavy-weapons", "Tajikistan denies using drones against Kyrgyz villages", "",
       "denied", "negation"),
    no("kg-tj-heavy-weapons", "A year after Tajik drones hit Kyrgyz villages, residents "
       "return", "", "a look back", "retrospective"),
    no("kg-tj-heavy-weapons", "Kyrgyz president visits Batken",
       "He met families. In Syria, drones struck Idlib. Tajikistan's foreign minister is due "
       "next week.", "drones of another war"),
    no("kg-tj-heavy-weapons", "Душанбе опроверг применение беспилотников против кыргызских "
       "сел", "", "опровержение", "negation"),
    no("kg-tj-heavy-weapons", "Власти Кыргызстана готовы эвакуировать жителей в случае "
       "обострения с Таджикистаном", "", "готовность", "hypothetical"),

    yes("kg-tj-ceasefire", "Kyrgyzstan and Tajikistan agree ceasefire after border clashes",
        "", "ceasefire agreed"),
    yes("kg-tj-ceasefire", "Kyrgyz, Tajik security chiefs meet in Batken",
        "They agreed to pull back troops from the disputed section.", "pull-back agreed"),
    yes("kg-tj-ceasefire", "Кыргызстан и Таджикистан договорились о прекращении огня", "",
        "прекращение огня"),
    yes("kg-tj-ceasefire", "Стороны согласовали отвод войск от кыргызско-таджикской границы",
        "", "отвод войск"),
    no("kg-tj-ceasefire", "No truce yet as Kyrgyz-Tajik border fighting continues", "",
       "negated", "negation"),
    no("kg-tj-ceasefire", "Regional leaders attend summit in Moscow",
       "Kyrgyz and Tajik presidents held a bilateral meeting. Putin urged Armenia and "
       "Azerbaijan to respect the ceasefire in Karabakh.", "another ceasefire"),
    no("kg-tj-ceasefire", "Кыргызстан и Таджикистан не смогли договориться о перемирии", "",
       "отрицание", "negation"),
    no("kg-tj-ceasefire", "Год назад Кыргызстан и Таджикистан договорились о прекращении "
       "огня", "", "взгляд назад", "retrospective"),

    yes("csto-kg-tj-mediation", "CSTO offers to mediate between Kyrgyzstan and Tajikistan",
        "", "mediation offered"),
    yes("csto-kg-tj-mediation", "CSTO calls on Kyrgyzstan and Tajikistan to settle border "
        "dispute peacefully", "", "a call on both"),
    yes("csto-kg-tj-mediation", "ОДКБ призвала Кыргызстан и Таджикистан урегулировать "
        "конфликт мирно", "", "призыв урегулировать"),
    yes("csto-kg-tj-mediation", "Генсек ОДКБ обсудил ситуацию на кыргызско-таджикской "
        "границе", "", "обсуждение"),
    no("csto-kg-tj-mediation", "CSTO could mediate in Kyrgyz-Tajik border dispute if both "
       "sides ask", "", "conditional", "hypothetical"),
    no("csto-kg-tj-mediation", "CSTO chief visits Moscow",
       "Kyrgyzstan and Tajikistan resumed border talks on Tuesday.",
       "the CSTO in another sentence"),
    no("csto-kg-tj-mediation", "A year ago the CSTO urged Kyrgyzstan and Tajikistan to end "
       "border conflict", "", "a look back", "retrospective"),
    no("csto-kg-tj-mediation", "Год назад ОДКБ призвала Бишкек и Душанбе к диалогу по "
       "границе", "", "взгляд назад", "retrospective"),
    no("csto-kg-tj-mediation", "ОДКБ проведет саммит в Москве",
       "Кыргызстан и Таджикистан продолжили переговоры по границе.",
       "ОДКБ в другом предложении"),
]


@cache
def shipped() -> tuple[Matcher, tuple[str, ...]]:
    """The matcher of the shipped scenarios.yaml and its indicator ids in file order."""
    spec = load_scenarios(SHIPPED)
    matcher, _ = spec_matcher(spec)
    return matcher, tuple(i.id for q in spec.questions for i in q.indicators)


def row_id(e: Example) -> str:
    return f"{e.indicator}-{'match' if e.match else 'not'}-{e.language}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[row_id(e) for e in EXAMPLES])
def test_shipped_indicator_example(example: Example) -> None:
    matcher, indicators = shipped()
    assert example.indicator in indicators
    found: Found = matcher.find(example.title, example.summary)
    matched = {m.indicator for m in found.matches}
    assert (example.indicator in matched) == example.match, example.why
    if example.cue is not None:
        kinds = {b.kind for b in found.blocked if b.indicator == example.indicator}
        assert kinds == {example.cue}, example.why


def test_every_shipped_indicator_has_examples_both_ways_in_both_languages() -> None:
    _, indicators = shipped()
    assert indicators
    missing = []
    for indicator in indicators:
        for must in (True, False):
            rows = [e for e in EXAMPLES if e.indicator == indicator and e.match is must]
            if len(rows) < 2 or {e.language for e in rows} != {"en", "ru"}:
                missing.append(f"{indicator} ({'must' if must else 'must-not'})")
    assert missing == []
