// Synthetic listings: the generator (pure, deterministic) and the loop that bulk-loads its
// output into a database (see listingd/seed.h).
//
// Realism comes from tables: real cities with real postal codes and a typical asking
// price per m², street names and wording per language (French in France and Wallonia and
// Brussels, German, Dutch in Flanders). Grammar is kept right by giving each noun its own
// list of adjectives (gender, article), rather than by generating it.
#include "listingd/seed.h"

#include "listingd/database.h"

#include <algorithm>
#include <string>
#include <string_view>

namespace listingd {
namespace {

// ---- randomness --------------------------------------------------------------------------

// splitmix64's output function: a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// splitmix64: tiny, fast, and the same sequence on every platform. Every listing gets a
// stream of its own, seeded from (seed, index), so that a listing does not depend on the
// ones generated before it.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t index)
      : state_(mix64(mix64(seed) ^ (index * 0xD1B54A32D192ED03ULL))) {}

  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ULL); }
  // Uniform in [0, n) for n >= 1: Lemire's multiply-shift (bias at most n / 2^64).
  uint64_t below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool percent(int p) { return below(100) < static_cast<uint64_t>(p); }
  template <class T, size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }

 private:
  uint64_t state_;
};

// ---- places ------------------------------------------------------------------------------

enum class Lang { fr, de, nl };

struct City {
  std::string_view name;
  std::string_view country;
  Lang lang;
  int weight;          // relative share of listings: roughly the population in 10 000s
  int eur_per_m2;      // typical asking price of an apartment, 2025
  int house_percent;   // share of houses among its listings
  // Real postal codes of the city, separated by one space, all of the country's width.
  std::string_view postal_codes;
};

// clang-format off
constexpr City k_cities[] = {
    // France: 5-digit codes; Paris, Lyon and Marseille by arrondissement.
    {"Paris", "FR", Lang::fr, 210, 10000, 2, "75001 75002 75003 75004 75005 75006 75007 75008 75009 75010 75011 75012 75013 75014 75015 75016 75017 75018 75019 75020 75116"},
    {"Marseille", "FR", Lang::fr, 87, 3600, 15, "13001 13002 13003 13004 13005 13006 13007 13008 13009 13010 13011 13012 13013 13014 13015 13016"},
    {"Lyon", "FR", Lang::fr, 52, 4900, 5, "69001 69002 69003 69004 69005 69006 69007 69008 69009"},
    {"Toulouse", "FR", Lang::fr, 50, 3600, 20, "31000 31100 31200 31300 31400 31500"},
    {"Nice", "FR", Lang::fr, 34, 5000, 12, "06000 06100 06200 06300"},
    {"Nantes", "FR", Lang::fr, 32, 3700, 25, "44000 44100 44200 44300"},
    {"Montpellier", "FR", Lang::fr, 30, 3700, 18, "34000 34070 34080 34090"},
    {"Strasbourg", "FR", Lang::fr, 29, 3600, 15, "67000 67100 67200"},
    {"Bordeaux", "FR", Lang::fr, 26, 4600, 25, "33000 33100 33200 33300 33800"},
    {"Lille", "FR", Lang::fr, 23, 3600, 25, "59000 59800"},
    {"Rennes", "FR", Lang::fr, 22, 3900, 22, "35000 35200 35700"},
    {"Reims", "FR", Lang::fr, 18, 2600, 30, "51100"},
    {"Toulon", "FR", Lang::fr, 18, 3100, 25, "83000 83100 83200"},
    {"Saint-Étienne", "FR", Lang::fr, 17, 1300, 25, "42000 42100"},
    {"Le Havre", "FR", Lang::fr, 17, 2200, 30, "76600 76610 76620"},
    {"Grenoble", "FR", Lang::fr, 16, 2700, 15, "38000 38100"},
    {"Dijon", "FR", Lang::fr, 16, 2800, 25, "21000"},
    {"Angers", "FR", Lang::fr, 15, 3100, 30, "49000 49100"},
    {"Nîmes", "FR", Lang::fr, 15, 2300, 35, "30000 30900"},
    {"Villeurbanne", "FR", Lang::fr, 15, 3900, 10, "69100"},
    {"Clermont-Ferrand", "FR", Lang::fr, 15, 2300, 30, "63000 63100"},
    {"Le Mans", "FR", Lang::fr, 14, 2000, 35, "72000 72100"},
    {"Aix-en-Provence", "FR", Lang::fr, 14, 5300, 30, "13090 13100"},
    {"Brest", "FR", Lang::fr, 14, 2100, 35, "29200"},
    {"Tours", "FR", Lang::fr, 14, 2900, 30, "37000 37100 37200"},
    {"Amiens", "FR", Lang::fr, 13, 2300, 35, "80000 80080 80090"},
    {"Limoges", "FR", Lang::fr, 13, 1800, 35, "87000 87100 87280"},
    {"Annecy", "FR", Lang::fr, 13, 5300, 25, "74000"},
    {"Perpignan", "FR", Lang::fr, 12, 1900, 35, "66000 66100"},
    {"Metz", "FR", Lang::fr, 12, 2100, 30, "57000 57050 57070"},
    // Germany: 5-digit codes, a selection of each city's.
    {"Berlin", "DE", Lang::de, 370, 5200, 5, "10115 10117 10119 10178 10243 10245 10247 10405 10435 10437 10551 10585 10627 10707 10777 10827 10961 10997 10999 12043 12047 12435 13347 14057"},
    {"Hamburg", "DE", Lang::de, 185, 5800, 10, "20095 20144 20249 20354 20355 20357 22041 22085 22301 22303 22765 22767"},
    {"München", "DE", Lang::de, 150, 8600, 6, "80331 80333 80335 80469 80539 80634 80636 80796 80797 80801 80802 81369 81541 81667 81675"},
    {"Köln", "DE", Lang::de, 108, 4600, 12, "50667 50668 50670 50672 50674 50676 50677 50678 50733 50823 50825 50931 50935 51063 51105"},
    {"Frankfurt am Main", "DE", Lang::de, 77, 5700, 10, "60306 60308 60311 60313 60316 60318 60322 60325 60385 60594"},
    {"Stuttgart", "DE", Lang::de, 63, 4900, 12, "70173 70174 70176 70178 70180 70182 70190 70191 70192 70193 70197 70199"},
    {"Düsseldorf", "DE", Lang::de, 62, 4700, 12, "40210 40211 40212 40213 40215 40217 40219 40221 40223 40225 40476 40477 40479"},
    {"Leipzig", "DE", Lang::de, 60, 2900, 12, "04103 04105 04107 04109 04177 04229 04275 04277 04315"},
    {"Dortmund", "DE", Lang::de, 59, 2600, 20, "44135 44137 44139 44141 44147"},
    {"Essen", "DE", Lang::de, 58, 2400, 20, "45127 45128 45130 45131 45138"},
    {"Bremen", "DE", Lang::de, 57, 2900, 25, "28195 28199 28203 28205 28209 28211"},
    {"Dresden", "DE", Lang::de, 56, 2900, 15, "01067 01069 01097 01099 01127 01307 01309"},
    {"Hannover", "DE", Lang::de, 54, 3500, 15, "30159 30161 30163 30165 30167 30169 30171 30173 30175"},
    {"Nürnberg", "DE", Lang::de, 52, 4000, 15, "90402 90403 90408 90409 90419 90429 90443 90459 90461 90478 90489"},
    {"Duisburg", "DE", Lang::de, 50, 1900, 20, "47051 47053 47057 47058"},
    {"Bochum", "DE", Lang::de, 36, 2300, 20, "44787 44789 44791 44793 44795"},
    {"Wuppertal", "DE", Lang::de, 36, 2000, 20, "42103 42105 42107"},
    {"Bonn", "DE", Lang::de, 33, 4000, 25, "53111 53113 53115 53117 53129"},
    {"Münster", "DE", Lang::de, 32, 4500, 25, "48143 48145 48147 48149 48151 48153 48155"},
    {"Karlsruhe", "DE", Lang::de, 31, 4100, 20, "76131 76133 76135 76137 76139"},
    {"Mannheim", "DE", Lang::de, 31, 3700, 20, "68159 68161 68163 68165 68167 68169"},
    {"Augsburg", "DE", Lang::de, 30, 4300, 25, "86150 86152 86153 86154 86159 86161"},
    {"Kiel", "DE", Lang::de, 25, 3300, 25, "24103 24105 24106 24113 24114 24116 24118 24143 24145 24146 24148 24149 24159"},
    {"Freiburg im Breisgau", "DE", Lang::de, 23, 5400, 20, "79098 79100 79102 79104 79106 79108 79110 79111 79114 79115 79117"},
    {"Mainz", "DE", Lang::de, 22, 4700, 20, "55116 55118 55120 55122 55124 55126 55127 55128 55129 55130 55131"},
    {"Potsdam", "DE", Lang::de, 18, 5000, 25, "14467 14469 14471 14473 14480 14482"},
    {"Heidelberg", "DE", Lang::de, 16, 5200, 20, "69115 69117 69118 69120 69121 69123 69124 69126"},
    {"Regensburg", "DE", Lang::de, 15, 4600, 25, "93047 93049 93051 93053 93055 93057 93059"},
    // Belgium: 4-digit codes. French in Brussels and Wallonia, Dutch in Flanders.
    {"Bruxelles", "BE", Lang::fr, 19, 3400, 8, "1000 1020 1120 1130"},
    {"Schaerbeek", "BE", Lang::fr, 13, 3000, 12, "1030"},
    {"Anderlecht", "BE", Lang::fr, 12, 2600, 15, "1070"},
    {"Molenbeek-Saint-Jean", "BE", Lang::fr, 10, 2600, 12, "1080"},
    {"Ixelles", "BE", Lang::fr, 9, 4000, 8, "1050"},
    {"Uccle", "BE", Lang::fr, 8, 3900, 30, "1180"},
    {"Woluwe-Saint-Lambert", "BE", Lang::fr, 6, 3600, 20, "1200"},
    {"Forest", "BE", Lang::fr, 6, 3000, 15, "1190"},
    {"Etterbeek", "BE", Lang::fr, 5, 3600, 10, "1040"},
    {"Saint-Gilles", "BE", Lang::fr, 5, 3400, 10, "1060"},
    {"Antwerpen", "BE", Lang::nl, 53, 3000, 25, "2000 2018 2020 2030 2050 2060"},
    {"Gent", "BE", Lang::nl, 26, 3300, 30, "9000"},
    {"Charleroi", "BE", Lang::fr, 20, 1600, 45, "6000"},
    {"Liège", "BE", Lang::fr, 19, 2100, 35, "4000 4020"},
    {"Brugge", "BE", Lang::nl, 12, 3200, 45, "8000"},
    {"Namur", "BE", Lang::fr, 11, 2700, 40, "5000"},
    {"Leuven", "BE", Lang::nl, 10, 3700, 35, "3000"},
    {"Mons", "BE", Lang::fr, 10, 2000, 45, "7000"},
    {"Mechelen", "BE", Lang::nl, 9, 3000, 40, "2800"},
    {"Aalst", "BE", Lang::nl, 9, 2500, 50, "9300"},
    {"Hasselt", "BE", Lang::nl, 8, 2700, 45, "3500"},
    {"Kortrijk", "BE", Lang::nl, 8, 2500, 45, "8500"},
    {"Sint-Niklaas", "BE", Lang::nl, 8, 2400, 50, "9100"},
    {"La Louvière", "BE", Lang::fr, 8, 1600, 50, "7100"},
    {"Oostende", "BE", Lang::nl, 7, 3800, 20, "8400"},
    {"Tournai", "BE", Lang::fr, 7, 2000, 50, "7500"},
    {"Genk", "BE", Lang::nl, 7, 2100, 55, "3600"},
    {"Verviers", "BE", Lang::fr, 5, 1500, 50, "4800"},
    {"Wavre", "BE", Lang::fr, 4, 3200, 45, "1300"},
    {"Louvain-la-Neuve", "BE", Lang::fr, 3, 3500, 30, "1348"},
    {"Waterloo", "BE", Lang::fr, 3, 3600, 55, "1410"},
    {"Arlon", "BE", Lang::fr, 3, 2600, 45, "6700"},
};
// clang-format on

// Shares of listings per country, in percent; within a country, cities by weight.
struct CountryShare {
  std::string_view code;
  int percent;
};
constexpr CountryShare k_country_shares[] = {{"FR", 40}, {"DE", 40}, {"BE", 20}};

const City& pick_city(Rng& rng) {
  std::string_view country = k_country_shares[2].code;
  for (int r = static_cast<int>(rng.below(100)); const auto& share : k_country_shares) {
    if (r < share.percent) {
      country = share.code;
      break;
    }
    r -= share.percent;
  }
  int total = 0;
  for (const City& c : k_cities)
    if (c.country == country) total += c.weight;
  int r = static_cast<int>(rng.below(static_cast<uint64_t>(total)));
  for (const City& c : k_cities) {
    if (c.country != country) continue;
    if (r < c.weight) return c;
    r -= c.weight;
  }
  return k_cities[0];  // not reached: the weights add up to `total`
}

std::string_view pick_postal_code(Rng& rng, const City& city) {
  const size_t width = city.postal_codes.find(' ') == std::string_view::npos
                           ? city.postal_codes.size()
                           : city.postal_codes.find(' ');
  const size_t count = (city.postal_codes.size() + 1) / (width + 1);
  return city.postal_codes.substr(rng.below(count) * (width + 1), width);
}

// ---- words -------------------------------------------------------------------------------

constexpr std::string_view k_streets_fr[] = {
    "rue de la République", "rue Victor Hugo", "avenue Jean Jaurès", "rue Pasteur",
    "boulevard Gambetta", "rue de la Paix", "avenue du Général Leclerc", "place de la Mairie",
    "rue des Écoles", "rue Jean Moulin", "rue de l'Église", "allée des Tilleuls",
    "impasse des Lilas", "chemin du Moulin", "rue Émile Zola", "rue Voltaire",
    "boulevard de la Liberté", "rue Nationale", "rue du Château", "avenue de la Gare",
    "rue des Acacias", "rue Carnot", "rue Saint-Jacques", "rue du Commerce", "avenue Foch",
    "rue Lamartine", "rue des Jardins", "quai des Carmes", "rue de Verdun", "cours Lafayette",
};
constexpr std::string_view k_streets_be_fr[] = {
    "Rue Neuve", "Rue de la Station", "Rue de l'Église", "Rue du Moulin", "Rue Haute",
    "Avenue des Combattants", "Rue de la Gare", "Rue des Écoles", "Avenue Albert Ier",
    "Rue Léopold", "Place du Marché", "Rue du Centre", "Avenue de la Libération",
    "Rue des Champs", "Rue Saint-Jean", "Rue de la Paix", "Avenue Reine Astrid",
    "Rue du Château", "Chaussée de Louvain", "Rue des Wallons",
};
constexpr std::string_view k_streets_nl[] = {
    "Kerkstraat", "Stationsstraat", "Molenstraat", "Nieuwstraat", "Schoolstraat",
    "Dorpsstraat", "Beekstraat", "Kapelstraat", "Veldstraat", "Hoogstraat", "Zandstraat",
    "Kasteelstraat", "Lindelaan", "Koning Albertlaan", "Leopoldstraat", "Grote Markt",
    "Bosstraat", "Meersstraat", "Pastorijstraat", "Sint-Jansstraat",
};
constexpr std::string_view k_streets_de[] = {
    "Hauptstraße", "Schulstraße", "Gartenstraße", "Bahnhofstraße", "Dorfstraße",
    "Bergstraße", "Birkenweg", "Lindenstraße", "Kirchstraße", "Waldstraße", "Ringstraße",
    "Schillerstraße", "Goethestraße", "Mozartstraße", "Friedrichstraße", "Am Markt",
    "Wilhelmstraße", "Kastanienallee", "Sonnenstraße", "Rosenweg", "Lessingstraße",
    "Beethovenstraße", "Feldstraße", "Parkstraße", "Uhlandstraße", "Kantstraße",
};

// Titles: one adjective list per noun, so that gender and article agree.
constexpr std::string_view k_studio_adj_fr[] = {"lumineux", "meublé", "rénové", "calme",
                                                "moderne", "refait à neuf", "bien agencé"};
constexpr std::string_view k_apartment_adj_fr[] = {
    "lumineux", "spacieux", "rénové", "familial", "traversant",
    "moderne",  "calme",    "de standing", "avec balcon", "avec terrasse"};
constexpr std::string_view k_rooms_adj_fr[] = {"Beau", "Joli", "Grand", "Superbe", "Charmant"};
constexpr std::string_view k_house_adj_fr[] = {
    "familiale", "de ville",   "avec jardin",  "individuelle", "rénovée",
    "contemporaine", "de caractère", "lumineuse", "spacieuse", "mitoyenne"};

constexpr std::string_view k_studio_adj_de[] = {"Möbliertes", "Modernes", "Helles",
                                                "Gemütliches", "Kompaktes", "Saniertes",
                                                "Ruhiges"};
constexpr std::string_view k_apartment_adj_de[] = {"Helle", "Moderne", "Großzügige",
                                                   "Ruhige", "Sanierte", "Sonnige",
                                                   "Charmante", "Gepflegte", "Renovierte"};
constexpr std::string_view k_apartment_noun_de[] = {"Wohnung", "Altbauwohnung",
                                                    "Etagenwohnung", "Maisonettewohnung"};
constexpr std::string_view k_house_adj_de[] = {"Gemütliches", "Modernes", "Großzügiges",
                                               "Renoviertes", "Helles", "Gepflegtes",
                                               "Charmantes"};
constexpr std::string_view k_house_noun_de[] = {"Einfamilienhaus", "Reihenhaus", "Stadthaus",
                                                "Haus"};

constexpr std::string_view k_studio_adj_nl[] = {"Gezellige", "Moderne", "Lichtrijke",
                                                "Gemeubelde", "Gerenoveerde", "Instapklare"};
constexpr std::string_view k_apartment_adj_nl[] = {"Ruim", "Lichtrijk", "Modern",
                                                   "Gerenoveerd", "Instapklaar",
                                                   "Rustig gelegen", "Prachtig"};
constexpr std::string_view k_house_adj_nl[] = {"Ruime", "Charmante", "Instapklare",
                                               "Gerenoveerde", "Moderne", "Lichtrijke"};
constexpr std::string_view k_house_noun_nl[] = {"woning", "gezinswoning", "rijwoning",
                                                "villa"};

// Descriptions: a first sentence with the listing's numbers, sometimes a second one.
constexpr std::string_view k_studio_extra_fr[] = {
    "idéal pour un étudiant ou un premier achat", "avec coin cuisine équipé et salle d'eau",
    "entièrement meublé", "à deux pas des transports", "parfait pour un investissement locatif"};
constexpr std::string_view k_apartment_extra_fr[] = {
    " et un séjour lumineux", ", un balcon et une cave", " et une cuisine ouverte",
    ", parquet et moulures", " et une terrasse", ""};
constexpr std::string_view k_house_extra_fr[] = {
    " et un garage", ", un jardin arboré et un garage", " et une véranda",
    ", une cuisine équipée et un cellier", ""};
constexpr std::string_view k_more_fr[] = {
    "Proche des commerces, des écoles et des transports.", "Quartier calme et recherché.",
    "Pas de travaux à prévoir.", "Vue dégagée, exposition sud.",
    "Chauffage individuel au gaz, double vitrage.", "Libre rapidement.",
    "Visite virtuelle disponible sur demande.", "Belles prestations, à visiter sans tarder."};

constexpr std::string_view k_studio_extra_de[] = {
    "ideal für Studenten oder Pendler", "mit Einbauküche und Duschbad", "voll möbliert",
    "in zentraler Lage", "perfekt als Kapitalanlage"};
constexpr std::string_view k_apartment_extra_de[] = {
    ", einen Balkon und einen Kellerraum", " sowie eine offene Küche",
    ", Parkett und hohe Decken", " und eine Dachterrasse", ""};
constexpr std::string_view k_house_extra_de[] = {  // dative: they follow "mit"
    " und einer Garage", ", einem Garten und einer Garage", " und einem Wintergarten",
    ", einer Einbauküche und einem Keller", ""};
constexpr std::string_view k_more_de[] = {
    "Gute Anbindung an öffentliche Verkehrsmittel.", "Ruhige, gefragte Wohnlage.",
    "Bezugsfrei ab sofort.", "Einkaufsmöglichkeiten und Schulen in der Nähe.",
    "Energieausweis liegt vor.", "Provisionsfrei für Käufer.",
    "Besichtigung nach Vereinbarung."};

constexpr std::string_view k_studio_extra_nl[] = {
    "ideaal voor studenten of als investering", "met ingerichte kitchenette en douchekamer",
    "volledig gemeubeld", "vlak bij het openbaar vervoer"};
constexpr std::string_view k_apartment_extra_nl[] = {
    ", een ruime living en een kelderberging", " en een zonnig terras", " en een open keuken",
    ", een parketvloer en veel lichtinval", ""};
constexpr std::string_view k_house_extra_nl[] = {
    " en een garage", ", een tuin en een garage", " en een veranda",
    ", een ingerichte keuken en een bureau", ""};
constexpr std::string_view k_more_nl[] = {
    "Gunstig gelegen nabij winkels, scholen en openbaar vervoer.", "Rustige en gegeerde buurt.",
    "Onmiddellijk vrij.", "Instapklaar, geen werken nodig.", "Bezoek enkel op afspraak."};

constexpr std::string_view k_nl_ordinal_suffix[] = {"", "ste", "de", "de", "de",
                                                    "de", "de", "de", "ste"};
constexpr std::string_view k_energy_labels[] = {"A", "B", "C", "D", "E", "F"};

// Mobile prefixes after the country code: Germany's 015x/016x/017x networks.
constexpr std::string_view k_mobile_prefixes_de[] = {
    "151", "152", "157", "159", "160", "162", "163", "170", "171", "172",
    "173", "174", "175", "176", "177", "178", "179"};

// ---- building the fields -----------------------------------------------------------------

void append_digits(std::string& out, Rng& rng, int count) {
  for (int i = 0; i < count; ++i) out += static_cast<char>('0' + rng.below(10));
}

// E.164 mobile numbers: +33 6/7x, +49 15x/16x/17x, +32 4[5-9]x.
std::string phone_number(Rng& rng, std::string_view country) {
  std::string out;
  if (country == "FR") {
    if (rng.percent(60)) {
      out = "+336";
      append_digits(out, rng, 8);
    } else {
      out = "+337" + std::to_string(rng.between(3, 9));
      append_digits(out, rng, 7);
    }
  } else if (country == "DE") {
    out = "+49";
    out += rng.pick(k_mobile_prefixes_de);
    append_digits(out, rng, 8);
  } else {
    out = "+324" + std::to_string(rng.between(5, 9));
    append_digits(out, rng, 7);
  }
  return out;
}

std::string street_address(Rng& rng, const City& city, BuildingType type) {
  const std::string number = std::to_string(rng.between(1, 120));
  if (city.country == "FR") {  // "12 bis rue de Rivoli"
    std::string suffix = rng.percent(4) ? " bis" : rng.percent(1) ? " ter" : "";
    return number + suffix + " " + std::string(rng.pick(k_streets_fr));
  }
  if (city.country == "DE") {  // "Hauptstraße 5a"
    std::string out = std::string(rng.pick(k_streets_de)) + " " + number;
    if (rng.percent(5)) out += static_cast<char>('a' + rng.below(3));
    return out;
  }
  // Belgium: "Rue Neuve 23", "Kerkstraat 8"; flats often carry a box number.
  std::string out = std::string(city.lang == Lang::nl ? rng.pick(k_streets_nl)
                                                      : rng.pick(k_streets_be_fr)) +
                    " " + number;
  if (type != BuildingType::house && rng.percent(30))
    out += (city.lang == Lang::nl ? " bus " : " bte ") + std::to_string(rng.between(1, 24));
  return out;
}

// "à Lyon", but "au Havre", "au Mans".
std::string in_city_fr(std::string_view city) {
  if (city.starts_with("Le ")) return "au " + std::string(city.substr(3));
  return "à " + std::string(city);
}

std::string title(Rng& rng, const City& city, const ListingWrite& f) {
  const std::string c(city.name);
  switch (city.lang) {
    case Lang::fr:
      switch (f.building_type) {
        case BuildingType::studio:
          return "Studio " + std::string(rng.pick(k_studio_adj_fr)) + " " + in_city_fr(c);
        case BuildingType::apartment:
          if (rng.percent(50))
            return "Appartement " + std::string(rng.pick(k_apartment_adj_fr)) + " " +
                   in_city_fr(c);
          return std::string(rng.pick(k_rooms_adj_fr)) + " " + std::to_string(f.rooms_count) +
                 " pièces " + in_city_fr(c);
        case BuildingType::house:
          return "Maison " + std::string(rng.pick(k_house_adj_fr)) + " " + in_city_fr(c);
      }
      break;
    case Lang::de:
      switch (f.building_type) {
        case BuildingType::studio:
          return std::string(rng.pick(k_studio_adj_de)) + " Apartment in " + c;
        case BuildingType::apartment:
          if (rng.percent(50))
            return std::string(rng.pick(k_apartment_adj_de)) + " " +
                   std::to_string(f.rooms_count) + "-Zimmer-Wohnung in " + c;
          return std::string(rng.pick(k_apartment_adj_de)) + " " +
                 std::string(rng.pick(k_apartment_noun_de)) + " in " + c;
        case BuildingType::house:
          return std::string(rng.pick(k_house_adj_de)) + " " +
                 std::string(rng.pick(k_house_noun_de)) + " in " + c;
      }
      break;
    case Lang::nl:
      switch (f.building_type) {
        case BuildingType::studio:
          return std::string(rng.pick(k_studio_adj_nl)) + " studio in " + c;
        case BuildingType::apartment:
          if (rng.percent(70))
            return std::string(rng.pick(k_apartment_adj_nl)) + " appartement in " + c;
          return "Appartement met " + std::to_string(f.bedrooms_count) +
                 (f.bedrooms_count == 1 ? " slaapkamer in " : " slaapkamers in ") + c;
        case BuildingType::house:
          return std::string(rng.pick(k_house_adj_nl)) + " " +
                 std::string(rng.pick(k_house_noun_nl)) + " in " + c;
      }
      break;
  }
  return c;
}

// "67" or "67,5": the decimal comma of all three languages.
std::string surface_text(double m2) {
  const auto tenths = static_cast<int64_t>(m2 * 10 + 0.5);
  std::string out = std::to_string(tenths / 10);
  if (tenths % 10 != 0) out += "," + std::to_string(tenths % 10);
  return out + " m²";
}

std::string floor_text(Lang lang, int64_t floor) {
  std::string out;
  const std::string n = std::to_string(floor);
  switch (lang) {
    case Lang::fr:
      out = floor == 0   ? "au rez-de-chaussée"
            : floor == 1 ? "au 1er étage"
                         : "au " + n + "e étage";
      if (floor >= 4) out += " avec ascenseur";
      break;
    case Lang::de:
      out = floor == 0 ? "im Erdgeschoss" : "im " + n + ". Obergeschoss";
      if (floor >= 4) out += " (mit Aufzug)";
      break;
    case Lang::nl:
      out = floor == 0 ? "op het gelijkvloers"
                       : "op de " + n + std::string(k_nl_ordinal_suffix[floor]) + " verdieping";
      if (floor >= 4) out += " met lift";
      break;
  }
  return out;
}

std::string description(Rng& rng, const City& city, const ListingWrite& f) {
  const std::string surface = surface_text(f.surface_area_m2);
  const std::string rooms = std::to_string(f.rooms_count);
  const std::string bedrooms = std::to_string(f.bedrooms_count);
  const bool one_bedroom = f.bedrooms_count == 1;
  const int64_t floor = rng.between(0, 8);
  const std::string plot = std::to_string(rng.between(15, 150) * 10);
  std::string out;
  switch (city.lang) {
    case Lang::fr:
      switch (f.building_type) {
        case BuildingType::studio:
          out = "Studio de " + surface + " " + floor_text(city.lang, floor) + ", " +
                std::string(rng.pick(k_studio_extra_fr)) + ".";
          break;
        case BuildingType::apartment:
          out = "Appartement de " + rooms + " pièces (" + surface + ") " +
                floor_text(city.lang, floor) + ", comprenant " + bedrooms +
                (one_bedroom ? " chambre" : " chambres") +
                std::string(rng.pick(k_apartment_extra_fr)) + ".";
          break;
        case BuildingType::house:
          out = "Maison de " + surface + " sur un terrain de " + plot + " m², avec " +
                bedrooms + (one_bedroom ? " chambre" : " chambres") +
                std::string(rng.pick(k_house_extra_fr)) + ".";
          break;
      }
      if (rng.percent(70)) out += " " + std::string(rng.pick(k_more_fr));
      if (city.country == "BE" && rng.percent(30))
        out += " PEB " + std::string(rng.pick(k_energy_labels)) + ".";
      break;
    case Lang::de:
      switch (f.building_type) {
        case BuildingType::studio:
          out = "Kompaktes Apartment mit " + surface + " " + floor_text(city.lang, floor) +
                ", " + std::string(rng.pick(k_studio_extra_de)) + ".";
          break;
        case BuildingType::apartment:
          out = "Die " + rooms + "-Zimmer-Wohnung (" + surface + ") liegt " +
                floor_text(city.lang, floor) + " und bietet " + bedrooms + " Schlafzimmer" +
                std::string(rng.pick(k_apartment_extra_de)) + ".";
          break;
        case BuildingType::house:
          out = "Das Haus bietet " + surface + " Wohnfläche auf einem " + plot +
                " m² großen Grundstück, mit " + bedrooms +
                (one_bedroom ? " Schlafzimmer" : " Schlafzimmern") +
                std::string(rng.pick(k_house_extra_de)) + ".";
          break;
      }
      if (rng.percent(70)) out += " " + std::string(rng.pick(k_more_de));
      break;
    case Lang::nl:
      switch (f.building_type) {
        case BuildingType::studio:
          out = "Studio van " + surface + " " + floor_text(city.lang, floor) + ", " +
                std::string(rng.pick(k_studio_extra_nl)) + ".";
          break;
        case BuildingType::apartment:
          out = "Appartement van " + surface + " " + floor_text(city.lang, floor) + " met " +
                bedrooms + (one_bedroom ? " slaapkamer" : " slaapkamers") +
                std::string(rng.pick(k_apartment_extra_nl)) + ".";
          break;
        case BuildingType::house:
          out = "Woning van " + surface + " op een perceel van " + plot + " m², met " +
                bedrooms + (one_bedroom ? " slaapkamer" : " slaapkamers") +
                std::string(rng.pick(k_house_extra_nl)) + ".";
          break;
      }
      if (rng.percent(70)) out += " " + std::string(rng.pick(k_more_nl));
      if (rng.percent(30)) out += " EPC-label " + std::string(rng.pick(k_energy_labels)) + ".";
      break;
  }
  return out;
}

// Type, rooms, bedrooms and surface, consistent with each other.
void shape(Rng& rng, const City& city, ListingWrite& f) {
  const int64_t r = rng.between(0, 99);
  int64_t whole_m2;
  if (r < city.house_percent) {
    f.building_type = BuildingType::house;
    constexpr int64_t rooms[] = {3, 4, 4, 5, 5, 5, 6, 6, 7, 8, 9, 10};
    f.rooms_count = rng.pick(rooms);
    const int64_t fewer = f.rooms_count >= 5 ? rng.between(1, 3) : rng.between(1, 2);
    f.bedrooms_count = f.rooms_count - fewer;
    whole_m2 = f.rooms_count * rng.between(17, 30) + rng.between(10, 40);
  } else if (r < city.house_percent + (100 - city.house_percent) * 18 / 100) {
    f.building_type = BuildingType::studio;
    f.rooms_count = 1;
    f.bedrooms_count = 0;
    whole_m2 = rng.between(15, 34);
  } else {
    f.building_type = BuildingType::apartment;
    constexpr int64_t rooms[] = {2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 6};
    f.rooms_count = rng.pick(rooms);
    f.bedrooms_count = f.rooms_count - (f.rooms_count >= 3 && rng.percent(20) ? 2 : 1);
    whole_m2 = f.rooms_count * rng.between(14, 24) + rng.between(5, 20);
  }
  // Half of the surfaces have a decimal; a studio's stays within 15–35 m².
  const int64_t tenths = whole_m2 * 10 + (rng.percent(50) ? rng.between(1, 9) : 0);
  f.surface_area_m2 = static_cast<double>(tenths) / 10;
}

// How a listing's prices are written; kept through its history.
enum class Rounding { thousand, hundred, charm, euro, cent };

// The step, in cents, by which prices of a rounding move at least.
int64_t unit_cents(Rounding r) {
  switch (r) {
    case Rounding::thousand:
    case Rounding::charm: return 100'000;
    case Rounding::hundred: return 10'000;
    case Rounding::euro: return 100;
    case Rounding::cent: return 1;
  }
  return 1;
}

int64_t round_price(int64_t cents, Rounding r) {
  const int64_t unit = unit_cents(r);
  int64_t out = std::max<int64_t>(unit, (cents + unit / 2) / unit * unit);
  if (r == Rounding::charm) out -= 1'000;  // 289 990 €
  return out;
}

// The history: a random walk of a few percent per change, pulled back towards the first
// price, at strictly increasing times that end before k_seed_base_ms.
std::vector<PricePoint> price_history(Rng& rng, int64_t first_cents, Rounding rounding,
                                      int64_t count) {
  constexpr int64_t minute = 60'000, day = 24 * 60 * minute;
  const int64_t last_ms = k_seed_base_ms - rng.between(minute, 60 * day);
  std::vector<PricePoint> history(static_cast<size_t>(count));
  // Times: the span split by random weights, each gap at least 1 ms (span >> total weight).
  const int64_t min_span = std::max<int64_t>(7 * day, count * 6 * 60 * minute);
  const int64_t span = count == 1 ? 0 : rng.between(min_span, std::max(min_span, 3 * 365 * day));
  std::vector<int64_t> cumulative(static_cast<size_t>(count), 0);
  for (int64_t k = 1; k < count; ++k) cumulative[k] = cumulative[k - 1] + rng.between(1, 1000);
  const int64_t total = std::max<int64_t>(1, cumulative.back());
  int64_t price = first_cents;
  for (int64_t k = 0; k < count; ++k) {
    history[k].created_ms = last_ms - span + span * cumulative[k] / total;
    if (k > 0) {
      int64_t lo = -600, hi = 400;  // basis points: sellers lower prices more than they raise
      if (price < first_cents * 3 / 4) lo = 0;
      if (price > first_cents * 13 / 10) hi = 0;
      const int64_t bp = rng.between(lo, hi);
      int64_t next = round_price(price + price * bp / 10'000, rounding);
      // Every entry is a change of price (as the store records them): a step too small
      // to survive the rounding moves by one unit instead.
      if (next == price) {
        const int64_t unit = unit_cents(rounding);
        next = bp < 0 && price > 2 * unit ? price - unit : price + unit;
      }
      price = next;
    }
    history[k].price_cents = price;
  }
  return history;
}

}  // namespace

SeededListing generate_listing(uint64_t seed, int64_t index, int64_t prices) {
  Rng rng(seed, static_cast<uint64_t>(index));
  SeededListing out;
  ListingWrite& f = out.listing.fields;
  const City& city = pick_city(rng);
  shape(rng, city, f);
  f.postal_address = {street_address(rng, city, f.building_type),
                      std::string(pick_postal_code(rng, city)), std::string(city.name),
                      std::string(city.country)};
  f.name = title(rng, city, f);
  f.description = description(rng, city, f);
  if (rng.percent(85)) f.contact_phone_number = phone_number(rng, city.country);

  // €/m² of the city, dearer for small flats, cheaper for houses, ±25% for the rest.
  int64_t per_m2 = city.eur_per_m2;
  if (f.building_type == BuildingType::studio) per_m2 = per_m2 * 112 / 100;
  if (f.building_type == BuildingType::house) per_m2 = per_m2 * 90 / 100;
  per_m2 = per_m2 * rng.between(780, 1280) / 1000;
  const auto tenths = static_cast<int64_t>(f.surface_area_m2 * 10 + 0.5);
  const int64_t raw_cents = tenths * per_m2 * 10;  // tenths of m² × €/m² × 100 / 10
  const int64_t r = rng.between(0, 99);
  const Rounding rounding = r < 45   ? Rounding::thousand
                            : r < 70 ? Rounding::hundred
                            : r < 85 ? Rounding::charm
                            : r < 95 ? Rounding::euro
                                     : Rounding::cent;
  out.history = price_history(rng, round_price(raw_cents, rounding), rounding, prices);
  f.price_cents = out.history.back().price_cents;
  out.listing.created_ms = out.history.front().created_ms;
  out.listing.updated_ms = out.history.back().created_ms;
  return out;
}

Status seed_database(const DatabaseOptions& db, const SeedOptions& options,
                     const SeedProgress& progress) {
  if (options.listings < 1 || options.listings > 10'000'000)
    return Status::Invalid("listings must be from 1 to 10000000");
  if (options.prices_per_listing < 1 || options.prices_per_listing > 1000)
    return Status::Invalid("prices per listing must be from 1 to 1000");
  auto loader = open_database(db)->open_bulk_loader();
  if (!loader.ok()) return loader.status();
  constexpr int64_t k_progress_every = 10'000;
  for (int64_t i = 0; i < options.listings; ++i) {
    SeededListing s = generate_listing(options.seed, i, options.prices_per_listing);
    if (auto id = (*loader)->add(s.listing, s.history); !id.ok()) return id.status();
    if (progress && (i + 1) % k_progress_every == 0) progress(i + 1, options.listings);
  }
  if (Status st = (*loader)->finish(); !st.ok()) return st;
  if (progress) progress(options.listings, options.listings);
  return Status::Ok();
}

}  // namespace listingd
