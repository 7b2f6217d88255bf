#include "rag/text/abbreviations.h"

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace chunkserve::rag {
namespace {

// Titles, references and citation words that do not end sentences.
constexpr std::string_view kNeverFinal[] = {
    // personal titles and ranks
    "Mr", "Mrs", "Ms", "Messrs", "Mmes", "Mme", "Mlle", "Dr", "Drs", "Prof", "Profs", "Rev", "Hon",
    "Sen", "Sens", "Rep", "Reps", "Gov", "Govs", "Gen", "Lt", "Col", "Maj", "Capt", "Cmdr", "Comdr",
    "Sgt", "Adm", "Cpl", "Pvt", "Pres", "Supt", "Insp", "Det", "Fr", "Msgr", "Atty", "Amb",
    "Gov'r", "Brig", "Ens", "Lieut",
    // reference words (followed by a number or a name)
    "No", "Nos", "Art", "Arts", "Sec", "Secs", "Para", "Paras", "Ch", "Chap", "Chs", "Fig", "Figs",
    "fig", "figs", "Vol", "Vols", "vol", "vols", "Pp", "pp", "p", "Ex", "Exh", "Eq", "Eqs", "eq",
    "eqs", "Nr", "Tit", "Pt", "Pts", "Cl", "cl", "Subd", "subd", "Subch", "subch", "Div", "Ref",
    "Refs", "ref", "refs", "Approx", "approx", "ca", "Nat", "Natl",
    // Latin and connectives
    "e.g", "i.e", "E.g", "I.e", "cf", "Cf", "viz", "vs", "Vs", "v", "id", "ibid", "op", "loc",
    // legal citation words (Fed. R. Civ. P., F. Supp., U.S. Dist. Ct., Cong. Rec., Pub. L. ...)
    "Fed", "Civ", "Crim", "App", "Supp", "Stat", "Stats", "Reg", "Regs", "Evid", "Proc", "Admin",
    "Ann", "Const", "Dist", "Bankr", "Jud", "Cong", "Sess", "Rec", "Pub", "Rptr", "Rul", "Ops",
    "Op", "Att'y", "Dep't", "Gov't", "Comm'n", "Ass'n", "Int'l", "Nat'l", "Sup", "Super", "Mun",
    "Prob", "Juv", "Fam", "Cnty", "Amend", "amend", "Treas", "Rptr", "Envtl", "Prac",
    "Crim.App", "Cas", "Mag", "Legis", "Stud", "Rts", "Educ", "Hosp", "Transp", "Indus", "Mfg",
    "Mgmt", "Prods", "Servs", "Sys", "Tech", "Tel", "Util", "Cmty", "Def", "Dev", "Distrib",
    "Enter", "Equip", "Fin", "Gen'l", "Grp", "Ins", "Inv", "Invs", "Med", "Mktg", "Mut", "Pharm",
    "Ry", "Sav", "Sch", "Soc", "Sur", "Elec", "Mem", "Corr", "Emp", "Lab", "Pers", "Reorg",
};

// Abbreviations that can end a sentence.
constexpr std::string_view kMaybeFinal[] = {
    "Inc", "Co", "Corp", "Ltd", "Bros", "Jr", "Sr", "Esq", "etc", "al", "seq", "Id", "Ibid",
    "St", "Mt", "Ft", "Ave", "Blvd", "Rd", "Dept", "Univ", "Assn", "Cir", "Ct", "Ed", "Eds",
    "Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec",
    "Mon", "Tue", "Tues", "Wed", "Thu", "Thur", "Thurs", "Fri", "Sat", "Sun",
    "Ala", "Ariz", "Ark", "Cal", "Calif", "Colo", "Conn", "Del", "Fla", "Ga", "Ill", "Ind",
    "Kan", "Kans", "Ky", "La", "Md", "Mass", "Mich", "Minn", "Miss", "Mo", "Mont", "Neb",
    "Nebr", "Nev", "Okla", "Ore", "Pa", "Penn", "Tenn", "Tex", "Va", "Vt", "Wash", "Wis", "Wisc", "Wyo",
    "ft", "oz", "lb", "lbs", "hr", "hrs", "min", "mins", "sec", "secs", "yr", "yrs", "mo", "mos",
    "est", "dept", "misc", "govt", "approx", "ed", "eds", "Gaz", "Rev", "Stat", "Cal.App",
};

constexpr std::string_view kStarters[] = {
    "The", "A", "An", "This", "That", "These", "Those", "It", "Its", "He", "She", "We", "They",
    "I", "You", "His", "Her", "Our", "Their", "My", "Your", "There", "Here", "In", "On", "At",
    "For", "From", "With", "By", "To", "Of", "As", "But", "And", "Or", "So", "Yet", "If", "When",
    "While", "After", "Before", "Although", "Though", "Because", "Since", "Unless", "Until",
    "Once", "However", "Moreover", "Furthermore", "Therefore", "Thus", "Also", "Then", "Now",
    "Today", "Yesterday", "Tomorrow", "Finally", "First", "Second", "Third", "Last", "Each",
    "Every", "All", "Some", "Many", "Most", "None", "Both", "Such", "What", "Which", "Who",
    "Whom", "Whose", "Why", "How", "Where", "Accordingly", "Nevertheless", "Nonetheless",
    "Meanwhile", "Indeed", "Instead", "Still", "Let", "Under", "Over", "During", "Through",
    "Without", "Within", "Among", "Between", "Despite", "Nor", "Not", "Only", "Even", "Perhaps",
    "Yes", "Other", "Another", "One", "Two", "Three", "Several", "Any", "Is", "Was", "Are",
    "Were", "Do", "Does", "Did", "Can", "Could", "Will", "Would", "Should", "May", "Might",
    "Must", "Shall", "Has", "Have", "Had", "Please", "Thank", "Consequently", "Similarly",
    "Additionally", "Likewise", "Otherwise", "Hence", "Whether", "Whatever", "Whenever",
    "Although", "Given", "Following", "According", "Upon", "Against", "Beyond", "Following",
    "Plaintiff", "Plaintiffs", "Defendant", "Defendants", "Petitioner", "Respondent",
    "Appellant", "Appellee", "See", "Compare", "Accord", "Contra", "Cf",
};

struct Tables {
  std::unordered_map<std::string_view, AbbrevKind> abbrevs;
  std::unordered_set<std::string_view> starters;
  Tables() {
    for (std::string_view w : kMaybeFinal) abbrevs.emplace(w, AbbrevKind::kMaybeFinal);
    // Never-final wins where a word is in both lists.
    for (std::string_view w : kNeverFinal) abbrevs[w] = AbbrevKind::kNeverFinal;
    for (std::string_view w : kStarters) starters.insert(w);
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

AbbrevKind LookupAbbreviation(std::string_view word) {
  const auto& t = GetTables().abbrevs;
  auto it = t.find(word);
  return it == t.end() ? AbbrevKind::kNone : it->second;
}

bool IsSentenceStarter(std::string_view word) { return GetTables().starters.count(word) > 0; }

}  // namespace chunkserve::rag
