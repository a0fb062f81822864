/*
** demodata.c -- deterministic Home Credit-style sample data in a SQLite file.
**
** Contract: see demodata.h.  The rates and quirks come from
** ../shared/notes/home-credit.md; what is generated, and every deliberate
** defect, is listed in docs/sample-data.md.  Keep the two in step.
**
** How it works:
**   - Every (customer, table) pair has its own PRNG stream derived from the
**     seed and SK_ID_CURR (splitmix64 seeding xoshiro256**).  A customer's rows
**     therefore never depend on how many rows other customers got, and a table
**     can be regenerated on its own: the installments pass re-derives each
**     previous application from its stream instead of keeping 1.6M of them in
**     memory.
**   - The file is written in four passes, one per table, inside one
**     transaction with journal and fsync off; the indexes are built at the end
**     (faster than maintaining them row by row), then the file is fsynced and
**     renamed over the output.
**   - Deliberate defects go to the six example customers (fixed problems) and
**     to a few "carrier" customers drawn from the seed.  A defect is applied
**     after the customer's normal values are drawn, so the stream, and every
**     other value, is the same with or without it.
*/
#include "demodata.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Sentinel the real data uses for "no date" in DAYS_* columns (~1000 years). */
#define DAYS_NA 365243
#define PROGRESS_EVERY 10000
/* Instalment rows per previous application: the most recent ones only, so
 * 300k customers stay well under a minute (the real data averages ~8). */
#define MAX_INSTALMENTS 12

/* ---- PRNG ---------------------------------------------------------------- */

struct rng {
    uint64_t s[4];
};

enum stream { STREAM_APP = 1, STREAM_BUREAU, STREAM_PREV, STREAM_INST, STREAM_CARRIERS };

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Hash seed, key and stream through splitmix64 so nearby customer ids get
 * unrelated streams. */
static void rng_init(struct rng *r, uint64_t seed, uint64_t key, uint64_t stream)
{
    uint64_t x = seed;
    x = splitmix64(&x) ^ key;
    x = splitmix64(&x) ^ (stream * 0xd1342543de82ef95ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r) /* xoshiro256** */
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double u01(struct rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static int chance(struct rng *r, double p)
{
    return u01(r) < p;
}

static double uniform(struct rng *r, double lo, double hi)
{
    return lo + (hi - lo) * u01(r);
}

/* Uniform integer in [lo, hi]. */
static int64_t irange(struct rng *r, int64_t lo, int64_t hi)
{
    int64_t v = lo + (int64_t)(u01(r) * (double)(hi - lo + 1));
    return v > hi ? hi : v;
}

static double normal(struct rng *r) /* Box-Muller, one value per call */
{
    double a = 1.0 - u01(r), b = u01(r);
    return sqrt(-2.0 * log(a)) * cos(6.283185307179586 * b);
}

static double lognormal(struct rng *r, double median, double sigma)
{
    return median * exp(sigma * normal(r));
}

static double expo(struct rng *r, double mean)
{
    return -mean * log(1.0 - u01(r));
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Money and measures come in steps (4500 for prices, 0.005 for 3 decimals). */
static double round_to(double x, double step)
{
    return floor(x / step + 0.5) * step;
}

/* ---- weighted categorical values ------------------------------------------ */

/* Weights are the real value counts (or shares) from the notes; a NULL value
 * stands for SQL NULL. */
struct wchoice {
    const char *v;
    double w;
};

static size_t pick_index(struct rng *r, const struct wchoice *c, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += c[i].w;
    double x = u01(r) * total;
    for (size_t i = 0; i + 1 < n; i++) {
        if (x < c[i].w)
            return i;
        x -= c[i].w;
    }
    return n - 1;
}

#define PICK(r, tab) ((tab)[pick_index((r), (tab), NELEM(tab))].v)

static const struct wchoice SUITES[] = {
    {NULL, 1292},     {"Unaccompanied", 248526}, {"Family", 40149}, {"Spouse, partner", 11370},
    {"Children", 3267}, {"Other_B", 1770},        {"Other_A", 866},  {"Group of people", 271},
};
static const struct wchoice INCOME_TYPES[] = {
    {"Working", 158774},  {"Commercial associate", 71617}, {"Pensioner", 55362},   {"State servant", 21703},
    {"Unemployed", 22},   {"Student", 18},                 {"Businessman", 10},    {"Maternity leave", 5},
};
static const struct wchoice EDUCATIONS[] = {
    {"Secondary / secondary special", 218391}, {"Higher education", 74863}, {"Incomplete higher", 10277},
    {"Lower secondary", 3816},                 {"Academic degree", 164},
};
static const struct wchoice FAMILY_STATUSES[] = {
    {"Married", 196432},   {"Single / not married", 45444}, {"Civil marriage", 29775},
    {"Separated", 19770},  {"Widow", 16088},                {"Unknown", 2},
};
static const struct wchoice HOUSING_TYPES[] = {
    {"House / apartment", 272868}, {"With parents", 14840},    {"Municipal apartment", 11183},
    {"Rented apartment", 4881},    {"Office apartment", 2617}, {"Co-op apartment", 1122},
};
static const struct wchoice OCCUPATIONS[] = {
    {"Laborers", 55186},        {"Sales staff", 32102},          {"Core staff", 27570},
    {"Managers", 21371},        {"Drivers", 18603},              {"High skill tech staff", 11380},
    {"Accountants", 9813},      {"Medicine staff", 8537},        {"Security staff", 6721},
    {"Cooking staff", 5946},    {"Cleaning staff", 4653},        {"Private service staff", 2652},
    {"Low-skill Laborers", 2093}, {"Waiters/barmen staff", 1348}, {"Secretaries", 1305},
    {"Realty agents", 751},     {"HR staff", 563},               {"IT staff", 526},
};
static const struct wchoice WEEKDAYS[] = {
    {"TUE", 53901}, {"WED", 51934}, {"MON", 50714}, {"THU", 50591}, {"FRI", 50338}, {"SAT", 33852}, {"SUN", 16181},
};
/* The 57 employer types besides XNA (which goes with the 365243 sentinel). */
static const struct wchoice ORGANIZATIONS[] = {
    {"Business Entity Type 3", 67992}, {"Self-employed", 38412},     {"Other", 16683},
    {"Medicine", 11193},               {"Business Entity Type 2", 10553}, {"Government", 10404},
    {"School", 8893},                  {"Trade: type 7", 7831},      {"Kindergarten", 6880},
    {"Construction", 6721},            {"Business Entity Type 1", 5984}, {"Transport: type 4", 5398},
    {"Trade: type 3", 3492},           {"Industry: type 9", 3368},   {"Industry: type 3", 3278},
    {"Security", 3247},                {"Housing", 2958},            {"Industry: type 11", 2704},
    {"Military", 2634},                {"Bank", 2507},               {"Agriculture", 2454},
    {"Police", 2341},                  {"Transport: type 2", 2204},  {"Postal", 2157},
    {"Security Ministries", 1974},     {"Trade: type 2", 1900},      {"Restaurant", 1811},
    {"Services", 1575},                {"University", 1327},         {"Industry: type 7", 1307},
    {"Transport: type 3", 1187},       {"Industry: type 1", 1039},   {"Hotel", 966},
    {"Electricity", 950},              {"Industry: type 4", 877},    {"Trade: type 6", 631},
    {"Industry: type 5", 599},         {"Insurance", 597},           {"Telecom", 577},
    {"Emergency", 560},                {"Industry: type 2", 458},    {"Advertising", 429},
    {"Realtor", 396},                  {"Culture", 379},             {"Industry: type 12", 369},
    {"Trade: type 1", 348},            {"Mobile", 317},              {"Legal Services", 305},
    {"Cleaning", 260},                 {"Transport: type 1", 201},   {"Industry: type 6", 112},
    {"Industry: type 10", 109},        {"Religion", 85},             {"Industry: type 13", 67},
    {"Trade: type 4", 64},             {"Trade: type 5", 49},        {"Industry: type 8", 24},
};
static const struct wchoice FONDKAPREMONT[] = {
    {"reg oper account", 73830}, {"reg oper spec account", 12080}, {"not specified", 5687}, {"org spec account", 5619},
};
static const struct wchoice HOUSETYPES[] = {
    {"block of flats", 150503}, {"specific housing", 1499}, {"terraced house", 1212},
};
static const struct wchoice WALLS[] = {
    {"Panel", 66040}, {"Stone, brick", 64815}, {"Block", 9253}, {"Wooden", 5362},
    {"Mixed", 2296},  {"Monolithic", 1779},    {"Others", 1625},
};
static const struct wchoice EMERGENCY[] = {{"No", 159428}, {"Yes", 2328}};

/* bureau */
static const struct wchoice CREDIT_ACTIVE[] = {{"Closed", 1079273}, {"Active", 630607}, {"Sold", 6527}, {"Bad debt", 21}};
static const struct wchoice CURRENCIES[] = {
    {"currency 1", 1715020}, {"currency 2", 1224}, {"currency 3", 174}, {"currency 4", 10},
};
static const struct wchoice CREDIT_TYPES[] = {
    {"Consumer credit", 1251615},
    {"Credit card", 402195},
    {"Car loan", 27690},
    {"Mortgage", 18391},
    {"Microloan", 12413},
    {"Loan for business development", 1975},
    {"Another type of loan", 1017},
    {"Unknown type of loan", 555},
    {"Loan for working capital replenishment", 469},
    {"Cash loan (non-earmarked)", 56},
    {"Real estate loan", 27},
    {"Loan for the purchase of equipment", 19},
    {"Loan for purchase of shares (margin lending)", 4},
    {"Mobile operator loan", 1},
    {"Interbank credit", 1},
};

/* previous applications */
static const struct wchoice PREV_CONTRACTS[] = {
    {"Cash loans", 747553}, {"Consumer loans", 729151}, {"Revolving loans", 193164}, {"XNA", 346},
};
static const struct wchoice PREV_STATUSES[] = {
    {"Approved", 1036781}, {"Canceled", 316319}, {"Refused", 290678}, {"Unused offer", 26436},
};
static const struct wchoice LOAN_PURPOSES[] = {
    {"Repairs", 23765},         {"Other", 15608},          {"Urgent needs", 8412},
    {"Buying a used car", 2888}, {"Building a house or an annex", 2693}, {"Everyday expenses", 2416},
    {"Medicine", 2174},         {"Payments on other loans", 1931}, {"Education", 1573},
    {"Journey", 1239},          {"Purchase of electronic equipment", 1061}, {"Buying a new car", 1012},
    {"Wedding / gift / holiday", 962}, {"Buying a home", 865}, {"Car repairs", 797},
    {"Furniture", 749},         {"Buying a holiday home / land", 533}, {"Business development", 426},
    {"Refusal to name the goal", 15},
};
static const struct wchoice REJECT_REASONS[] = {
    {"HC", 175231}, {"LIMIT", 55680}, {"SCO", 37467}, {"SCOFR", 12811},
    {"XNA", 5244},  {"VERIF", 3535},  {"SYSTEM", 717},
};
static const struct wchoice PREV_SUITES[] = {
    {"Unaccompanied", 508970}, {"Family", 213263},  {"Spouse, partner", 67069}, {"Children", 31566},
    {"Other_B", 17624},        {"Other_A", 9077},   {"Group of people", 2240},
};
static const struct wchoice CLIENT_TYPES[] = {{"Repeater", 1231261}, {"New", 301363}, {"Refreshed", 135649}, {"XNA", 1941}};
static const struct wchoice GOODS_CATEGORIES[] = {
    {"Mobile", 224708},           {"Consumer Electronics", 121576}, {"Computers", 105769},
    {"Audio/Video", 99441},       {"Furniture", 53656},             {"Photo / Cinema Equipment", 25021},
    {"Construction Materials", 24995}, {"Clothing and Accessories", 23554}, {"Auto Accessories", 7381},
    {"Jewelry", 6290},            {"Homewares", 5023},              {"Medical Supplies", 3843},
    {"Vehicles", 3370},           {"Sport and Leisure", 2981},      {"Gardening", 2668},
    {"Other", 2554},              {"Office Appliances", 2333},      {"Tourism", 1659},
    {"Medicine", 1550},           {"Direct Sales", 446},            {"Fitness", 209},
};
static const struct wchoice CASH_CHANNELS[] = {
    {"Credit and cash offices", 75}, {"Contact center", 10}, {"AP+ (Cash loan)", 8},
    {"Channel of corporate sales", 1}, {"Regional / Local", 3}, {"Country-wide", 3},
};
static const struct wchoice POS_CHANNELS[] = {
    {"Country-wide", 60}, {"Stone", 29}, {"Regional / Local", 11}, {"Car dealer", 0.1},
};
static const struct wchoice CARD_CHANNELS[] = {{"Credit and cash offices", 60}, {"Country-wide", 20}, {"Stone", 20}};
static const struct wchoice SELLER_INDUSTRIES[] = {
    {"Consumer electronics", 398265}, {"Connectivity", 276029}, {"Furniture", 57849},  {"Construction", 29781},
    {"Clothing", 23949},              {"Industry", 19194},      {"Auto technology", 4990}, {"Jewelry", 2709},
    {"MLM partners", 1146},           {"Tourism", 513},
};
static const struct wchoice YIELD_GROUPS[] = {{"middle", 385532}, {"high", 353331}, {"low_normal", 322095}, {"low_action", 92041}};
static const struct wchoice POS_PRODUCTS[] = {
    {"POS household with interest", 263622},  {"POS mobile with interest", 220670},
    {"POS industry with interest", 98833},    {"POS household without interest", 82908},
    {"POS other with interest", 23879},       {"POS mobile without interest", 24082},
    {"POS industry without interest", 12602}, {"POS others without interest", 2555},
};

/* Region population shares come from a fixed set of regions, like the real
 * column (which has 81 distinct values): a monitor sees a discrete column. */
static const struct {
    double v, w;
} REGIONS[] = {
    {0.000290, 1},  {0.000533, 1},  {0.001276, 2},  {0.002042, 4},  {0.003069, 6},  {0.003818, 5},
    {0.004960, 4},  {0.006008, 6},  {0.006852, 4},  {0.007020, 9},  {0.008019, 6},  {0.008575, 5},
    {0.009175, 6},  {0.010006, 11}, {0.010500, 5},  {0.011657, 6},  {0.014464, 7},  {0.015221, 7},
    {0.016612, 6},  {0.018029, 9},  {0.018634, 8},  {0.018850, 10}, {0.019101, 8},  {0.020246, 7},
    {0.022625, 7},  {0.024610, 8},  {0.025164, 9},  {0.026392, 7},  {0.028663, 9},  {0.030755, 6},
    {0.031329, 8},  {0.032561, 6},  {0.035792, 16}, {0.046220, 5},  {0.072508, 3},
};

/* ---- table schemas --------------------------------------------------------- */

/* Column lists in the real files' order; I = INTEGER, R = REAL, T = TEXT by
 * the column's real type (home-credit-columns.tsv). */
#define BUILDING_COLUMNS(X, SUF)                                                                                      \
    X(APARTMENTS##SUF, R) X(BASEMENTAREA##SUF, R) X(YEARS_BEGINEXPLUATATION##SUF, R) X(YEARS_BUILD##SUF, R)           \
    X(COMMONAREA##SUF, R) X(ELEVATORS##SUF, R) X(ENTRANCES##SUF, R) X(FLOORSMAX##SUF, R) X(FLOORSMIN##SUF, R)         \
    X(LANDAREA##SUF, R) X(LIVINGAPARTMENTS##SUF, R) X(LIVINGAREA##SUF, R) X(NONLIVINGAPARTMENTS##SUF, R)             \
    X(NONLIVINGAREA##SUF, R)

#define APP_COLUMNS(X)                                                                                                \
    X(SK_ID_CURR, I) X(TARGET, I) X(NAME_CONTRACT_TYPE, T) X(CODE_GENDER, T) X(FLAG_OWN_CAR, T)                        \
    X(FLAG_OWN_REALTY, T) X(CNT_CHILDREN, I) X(AMT_INCOME_TOTAL, R) X(AMT_CREDIT, R) X(AMT_ANNUITY, R)                 \
    X(AMT_GOODS_PRICE, R) X(NAME_TYPE_SUITE, T) X(NAME_INCOME_TYPE, T) X(NAME_EDUCATION_TYPE, T)                       \
    X(NAME_FAMILY_STATUS, T) X(NAME_HOUSING_TYPE, T) X(REGION_POPULATION_RELATIVE, R) X(DAYS_BIRTH, I)                 \
    X(DAYS_EMPLOYED, I) X(DAYS_REGISTRATION, R) X(DAYS_ID_PUBLISH, I) X(OWN_CAR_AGE, R) X(FLAG_MOBIL, I)               \
    X(FLAG_EMP_PHONE, I) X(FLAG_WORK_PHONE, I) X(FLAG_CONT_MOBILE, I) X(FLAG_PHONE, I) X(FLAG_EMAIL, I)                \
    X(OCCUPATION_TYPE, T) X(CNT_FAM_MEMBERS, R) X(REGION_RATING_CLIENT, I) X(REGION_RATING_CLIENT_W_CITY, I)           \
    X(WEEKDAY_APPR_PROCESS_START, T) X(HOUR_APPR_PROCESS_START, I) X(REG_REGION_NOT_LIVE_REGION, I)                    \
    X(REG_REGION_NOT_WORK_REGION, I) X(LIVE_REGION_NOT_WORK_REGION, I) X(REG_CITY_NOT_LIVE_CITY, I)                    \
    X(REG_CITY_NOT_WORK_CITY, I) X(LIVE_CITY_NOT_WORK_CITY, I) X(ORGANIZATION_TYPE, T) X(EXT_SOURCE_1, R)              \
    X(EXT_SOURCE_2, R) X(EXT_SOURCE_3, R) BUILDING_COLUMNS(X, _AVG) BUILDING_COLUMNS(X, _MODE)                         \
    BUILDING_COLUMNS(X, _MEDI) X(FONDKAPREMONT_MODE, T) X(HOUSETYPE_MODE, T) X(TOTALAREA_MODE, R)                      \
    X(WALLSMATERIAL_MODE, T) X(EMERGENCYSTATE_MODE, T) X(OBS_30_CNT_SOCIAL_CIRCLE, R) X(DEF_30_CNT_SOCIAL_CIRCLE, R)   \
    X(OBS_60_CNT_SOCIAL_CIRCLE, R) X(DEF_60_CNT_SOCIAL_CIRCLE, R) X(DAYS_LAST_PHONE_CHANGE, R) X(FLAG_DOCUMENT_2, I)   \
    X(FLAG_DOCUMENT_3, I) X(FLAG_DOCUMENT_4, I) X(FLAG_DOCUMENT_5, I) X(FLAG_DOCUMENT_6, I) X(FLAG_DOCUMENT_7, I)      \
    X(FLAG_DOCUMENT_8, I) X(FLAG_DOCUMENT_9, I) X(FLAG_DOCUMENT_10, I) X(FLAG_DOCUMENT_11, I) X(FLAG_DOCUMENT_12, I)   \
    X(FLAG_DOCUMENT_13, I) X(FLAG_DOCUMENT_14, I) X(FLAG_DOCUMENT_15, I) X(FLAG_DOCUMENT_16, I)                        \
    X(FLAG_DOCUMENT_17, I) X(FLAG_DOCUMENT_18, I) X(FLAG_DOCUMENT_19, I) X(FLAG_DOCUMENT_20, I)                        \
    X(FLAG_DOCUMENT_21, I) X(AMT_REQ_CREDIT_BUREAU_HOUR, R) X(AMT_REQ_CREDIT_BUREAU_DAY, R)                            \
    X(AMT_REQ_CREDIT_BUREAU_WEEK, R) X(AMT_REQ_CREDIT_BUREAU_MON, R) X(AMT_REQ_CREDIT_BUREAU_QRT, R)                   \
    X(AMT_REQ_CREDIT_BUREAU_YEAR, R)

#define BUREAU_COLUMNS(X)                                                                                             \
    X(SK_ID_CURR, I) X(SK_ID_BUREAU, I) X(CREDIT_ACTIVE, T) X(CREDIT_CURRENCY, T) X(DAYS_CREDIT, I)                    \
    X(CREDIT_DAY_OVERDUE, I) X(DAYS_CREDIT_ENDDATE, R) X(DAYS_ENDDATE_FACT, R) X(AMT_CREDIT_MAX_OVERDUE, R)            \
    X(CNT_CREDIT_PROLONG, I) X(AMT_CREDIT_SUM, R) X(AMT_CREDIT_SUM_DEBT, R) X(AMT_CREDIT_SUM_LIMIT, R)                 \
    X(AMT_CREDIT_SUM_OVERDUE, R) X(CREDIT_TYPE, T) X(DAYS_CREDIT_UPDATE, I) X(AMT_ANNUITY, R)

#define PREV_COLUMNS(X)                                                                                               \
    X(SK_ID_PREV, I) X(SK_ID_CURR, I) X(NAME_CONTRACT_TYPE, T) X(AMT_ANNUITY, R) X(AMT_APPLICATION, R)                 \
    X(AMT_CREDIT, R) X(AMT_DOWN_PAYMENT, R) X(AMT_GOODS_PRICE, R) X(WEEKDAY_APPR_PROCESS_START, T)                     \
    X(HOUR_APPR_PROCESS_START, I) X(FLAG_LAST_APPL_PER_CONTRACT, T) X(NFLAG_LAST_APPL_IN_DAY, I)                       \
    X(RATE_DOWN_PAYMENT, R) X(RATE_INTEREST_PRIMARY, R) X(RATE_INTEREST_PRIVILEGED, R) X(NAME_CASH_LOAN_PURPOSE, T)     \
    X(NAME_CONTRACT_STATUS, T) X(DAYS_DECISION, I) X(NAME_PAYMENT_TYPE, T) X(CODE_REJECT_REASON, T)                    \
    X(NAME_TYPE_SUITE, T) X(NAME_CLIENT_TYPE, T) X(NAME_GOODS_CATEGORY, T) X(NAME_PORTFOLIO, T)                        \
    X(NAME_PRODUCT_TYPE, T) X(CHANNEL_TYPE, T) X(SELLERPLACE_AREA, I) X(NAME_SELLER_INDUSTRY, T) X(CNT_PAYMENT, R)     \
    X(NAME_YIELD_GROUP, T) X(PRODUCT_COMBINATION, T) X(DAYS_FIRST_DRAWING, R) X(DAYS_FIRST_DUE, R)                     \
    X(DAYS_LAST_DUE_1ST_VERSION, R) X(DAYS_LAST_DUE, R) X(DAYS_TERMINATION, R) X(NFLAG_INSURED_ON_APPROVAL, R)

#define INST_COLUMNS(X)                                                                                               \
    X(SK_ID_PREV, I) X(SK_ID_CURR, I) X(NUM_INSTALMENT_VERSION, R) X(NUM_INSTALMENT_NUMBER, I)                         \
    X(DAYS_INSTALMENT, R) X(DAYS_ENTRY_PAYMENT, R) X(AMT_INSTALMENT, R) X(AMT_PAYMENT, R)

#define ENUM_A(n, t) A_##n,
#define ENUM_B(n, t) B_##n,
#define ENUM_P(n, t) P_##n,
#define ENUM_I(n, t) I_##n,
#define SPEC(n, t) {#n, TYPE_##t},
enum app_col { APP_COLUMNS(ENUM_A) A_NCOLS };
enum bureau_col { BUREAU_COLUMNS(ENUM_B) B_NCOLS };
enum prev_col { PREV_COLUMNS(ENUM_P) P_NCOLS };
enum inst_col { INST_COLUMNS(ENUM_I) I_NCOLS };

_Static_assert(A_NCOLS == 122 && B_NCOLS == 17 && P_NCOLS == 37 && I_NCOLS == 8, "column counts of the real files");
_Static_assert(A_APARTMENTS_MODE - A_APARTMENTS_AVG == 14 && A_APARTMENTS_MEDI - A_APARTMENTS_MODE == 14,
               "building columns come in three blocks of 14");

enum col_type { TYPE_I, TYPE_R, TYPE_T }; /* INTEGER, REAL, TEXT */

struct colspec {
    const char *name;
    enum col_type type;
};

static const struct colspec APP_SPEC[] = {APP_COLUMNS(SPEC)};
static const struct colspec BUREAU_SPEC[] = {BUREAU_COLUMNS(SPEC)};
static const struct colspec PREV_SPEC[] = {PREV_COLUMNS(SPEC)};
static const struct colspec INST_SPEC[] = {INST_COLUMNS(SPEC)};

enum table_id { T_APP, T_BUREAU, T_PREV, T_INST, T_COUNT };

struct table_def {
    const char *name;
    const struct colspec *cols;
    int ncols;
    const char *rowid_pk; /* INTEGER PRIMARY KEY column, or NULL */
    const char *indexes;  /* run after loading */
};

/* SK_ID_BUREAU is the bureau's key but deliberately not declared unique: the
 * sample carries duplicate keys for the duplicate check to find.  Every child
 * table is indexed on SK_ID_CURR for customer look-ups; an SK_ID_PREV index
 * on the instalments would cost ~15 % of the run and serves no check. */
static const struct table_def TABLES[T_COUNT] = {
    {"SAMPLE_APPLICATION", APP_SPEC, A_NCOLS, "SK_ID_CURR", ""},
    {"SAMPLE_BUREAU", BUREAU_SPEC, B_NCOLS, NULL,
     "CREATE INDEX SAMPLE_BUREAU_SK_ID_CURR ON SAMPLE_BUREAU(SK_ID_CURR);"
     "CREATE INDEX SAMPLE_BUREAU_SK_ID_BUREAU ON SAMPLE_BUREAU(SK_ID_BUREAU);"},
    {"SAMPLE_PREVIOUS_APP", PREV_SPEC, P_NCOLS, "SK_ID_PREV",
     "CREATE INDEX SAMPLE_PREVIOUS_APP_SK_ID_CURR ON SAMPLE_PREVIOUS_APP(SK_ID_CURR);"},
    {"SAMPLE_INSTALLMENTS", INST_SPEC, I_NCOLS, NULL,
     "CREATE INDEX SAMPLE_INSTALLMENTS_SK_ID_CURR ON SAMPLE_INSTALLMENTS(SK_ID_CURR);"},
};

/* ---- row buffer ------------------------------------------------------------ */

enum cell_kind { CELL_NULL = 0, CELL_INT, CELL_REAL, CELL_TEXT };

struct cell {
    int kind;
    int64_t i;
    double d;
    const char *s; /* static strings only: bound with SQLITE_STATIC */
};

static void clear_row(struct cell *row, int n)
{
    memset(row, 0, sizeof(*row) * (size_t)n);
}

static void put_int(struct cell *row, int col, int64_t v)
{
    row[col].kind = CELL_INT;
    row[col].i = v;
}

static void put_real(struct cell *row, int col, double v)
{
    row[col].kind = CELL_REAL;
    row[col].d = v;
}

static void put_text(struct cell *row, int col, const char *s)
{
    row[col].kind = s != NULL ? CELL_TEXT : CELL_NULL;
    row[col].s = s;
}

static void put_null(struct cell *row, int col)
{
    row[col].kind = CELL_NULL;
}

static void put_flag(struct cell *row, int col, struct rng *r, double p)
{
    put_int(row, col, chance(r, p));
}

/* ---- which customers carry which problems ------------------------------- */

enum problem {
    /* spread over seed-chosen carrier customers, and some examples */
    F_DUP_BUREAU = 1u << 0,      /* an extra bureau row repeating an SK_ID_BUREAU */
    F_NULL_CURR_BUREAU = 1u << 1, /* an extra bureau row with SK_ID_CURR NULL */
    F_DUP_INSTALMENT = 1u << 2,  /* an instalment row written twice */
    F_NEG_CREDIT = 1u << 3,      /* application AMT_CREDIT negative */
    F_NEG_INCOME = 1u << 4,      /* application AMT_INCOME_TOTAL negative */
    F_TEXT_ANNUITY = 1u << 5,    /* application AMT_ANNUITY = 'n/a' */
    F_ORPHAN_INST = 1u << 6,     /* instalments of an SK_ID_PREV with no previous application */
    /* example customers only */
    X_NULL_ANNUITY = 1u << 7,
    X_EMPLOYED_SENTINEL = 1u << 8, /* 365243 on a Working customer with an employer */
    X_LATE_INSTALMENTS = 1u << 9,
    X_BUREAU_DEBT = 1u << 10, /* debt above the credit sum, and a negative debt */
    X_INCOME_OUTLIER = 1u << 11,
    X_ANNUITY_GT_CREDIT = 1u << 12,
    X_OLD_CAR = 1u << 13,
    X_GENDER_XNA = 1u << 14,
    X_NEG_DOWN_PAYMENT = 1u << 15,
    X_FAR_ENDDATE = 1u << 16,
    X_OVERPAID = 1u << 17,
    X_UNPAID = 1u << 18,
    X_NO_SCORES = 1u << 19,
    X_BUREAU_OVERDUE = 1u << 20,
};

#define NEEDS_BUREAU (F_DUP_BUREAU | F_NULL_CURR_BUREAU | X_BUREAU_DEBT | X_FAR_ENDDATE | X_BUREAU_OVERDUE)
#define NEEDS_SCHEDULE (F_DUP_INSTALMENT | X_LATE_INSTALMENTS | X_OVERPAID | X_UNPAID | X_NEG_DOWN_PAYMENT)

struct mark {
    int64_t id;
    uint32_t flags;
};

/* Keep in step with CS_DEMODATA_EXAMPLE_IDS and docs/sample-data.md. */
static const struct mark EXAMPLES[] = {
    {103065, X_NULL_ANNUITY | X_EMPLOYED_SENTINEL | X_LATE_INSTALMENTS},
    {108032, F_NEG_CREDIT | F_DUP_BUREAU | X_BUREAU_DEBT},
    {111950, X_INCOME_OUTLIER | X_ANNUITY_GT_CREDIT | X_OLD_CAR},
    {112961, F_TEXT_ANNUITY | X_GENDER_XNA | X_NEG_DOWN_PAYMENT},
    {121072, F_DUP_INSTALMENT | X_OVERPAID | X_UNPAID | X_FAR_ENDDATE},
    {103788, F_NEG_INCOME | X_NO_SCORES | X_BUREAU_OVERDUE | F_ORPHAN_INST},
};

/* How many random customers carry each defect besides the examples. */
static const struct {
    uint32_t flag;
    int count;
} CARRIERS[] = {
    {F_DUP_BUREAU, 4},     {F_NULL_CURR_BUREAU, 2}, {F_DUP_INSTALMENT, 4}, {F_NEG_CREDIT, 2},
    {F_NEG_INCOME, 2},     {F_TEXT_ANNUITY, 2},     {F_ORPHAN_INST, 2},
};

#define MAX_MARKS 32

struct plan {
    uint64_t seed, customers;
    int64_t extra[NELEM(EXAMPLES)]; /* example ids beyond the range, ascending */
    size_t nextra;
    struct mark marks[MAX_MARKS]; /* sorted by id, ids unique */
    size_t nmarks;
};

static int64_t plan_id(const struct plan *p, uint64_t i)
{
    return i < p->customers ? CS_DEMODATA_FIRST_ID + (int64_t)i : p->extra[i - p->customers];
}

static uint64_t plan_count(const struct plan *p)
{
    return p->customers + p->nextra;
}

static int in_range(const struct plan *p, int64_t id)
{
    return id >= CS_DEMODATA_FIRST_ID && (uint64_t)(id - CS_DEMODATA_FIRST_ID) < p->customers;
}

static uint32_t plan_flags(const struct plan *p, int64_t id)
{
    size_t lo = 0, hi = p->nmarks;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->marks[mid].id == id)
            return p->marks[mid].flags;
        if (p->marks[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static void plan_mark(struct plan *p, int64_t id, uint32_t flags)
{
    size_t i = 0;
    while (i < p->nmarks && p->marks[i].id < id)
        i++;
    if (i < p->nmarks && p->marks[i].id == id) {
        p->marks[i].flags |= flags;
        return;
    }
    memmove(&p->marks[i + 1], &p->marks[i], (p->nmarks - i) * sizeof(p->marks[0]));
    p->marks[i] = (struct mark){id, flags};
    p->nmarks++;
}

static int is_example(int64_t id)
{
    for (size_t i = 0; i < NELEM(EXAMPLES); i++)
        if (EXAMPLES[i].id == id)
            return 1;
    return 0;
}

/* A carrier is any non-example customer of the range that does not carry the
 * same defect yet; tiny ranges may run out, then the defect is skipped. */
static void plan_carriers(struct plan *p)
{
    struct rng r;
    rng_init(&r, p->seed, 0, STREAM_CARRIERS);
    for (size_t k = 0; k < NELEM(CARRIERS); k++) {
        for (int n = 0; n < CARRIERS[k].count; n++) {
            for (int attempt = 0; attempt < 64; attempt++) {
                int64_t id = CS_DEMODATA_FIRST_ID + irange(&r, 0, (int64_t)p->customers - 1);
                if (!is_example(id) && !(plan_flags(p, id) & CARRIERS[k].flag) && p->nmarks < MAX_MARKS) {
                    plan_mark(p, id, CARRIERS[k].flag);
                    break;
                }
            }
        }
    }
}

static void plan_init(struct plan *p, uint64_t seed, uint64_t customers)
{
    memset(p, 0, sizeof(*p));
    p->seed = seed;
    p->customers = customers;
    for (size_t i = 0; i < NELEM(EXAMPLES); i++)
        plan_mark(p, EXAMPLES[i].id, EXAMPLES[i].flags);
    for (size_t i = 0; i < p->nmarks; i++) /* marks are sorted, so the extra ids come out ascending */
        if (!in_range(p, p->marks[i].id))
            p->extra[p->nextra++] = p->marks[i].id;
    plan_carriers(p);
}

/* ---- writer ---------------------------------------------------------------- */

struct writer {
    sqlite3 *db;
    sqlite3_stmt *ins[T_COUNT];
    uint64_t rows[T_COUNT];
    uint64_t total[T_COUNT]; /* 0 when not known in advance */
    const struct cs_demodata_opts *o;
    const char *path; /* the temporary file, for messages */
    struct cs_err *err;
};

static int db_fail(struct writer *w, const char *what)
{
    int code = sqlite3_errcode(w->db) & 0xff, sys = 0;
    if (code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN) /* errno is stale otherwise */
        sys = sqlite3_system_errno(w->db);
    return cs_err_set(w->err, CS_ESOURCE, "demo-data: %s '%s': %s%s%s", what, w->path, sqlite3_errmsg(w->db),
                      sys ? " - " : "", sys ? strerror(sys) : "");
}

static void report(struct writer *w, int t)
{
    if (w->o->progress != NULL)
        w->o->progress(w->o->progress_ctx, TABLES[t].name, w->rows[t], w->total[t]);
}

static int write_row(struct writer *w, int t, const struct cell *row)
{
    sqlite3_stmt *st = w->ins[t];
    for (int c = 0; c < TABLES[t].ncols; c++) {
        const struct cell *v = &row[c];
        switch (v->kind) {
        case CELL_INT: sqlite3_bind_int64(st, c + 1, v->i); break;
        case CELL_REAL: sqlite3_bind_double(st, c + 1, v->d); break;
        case CELL_TEXT: sqlite3_bind_text(st, c + 1, v->s, -1, SQLITE_STATIC); break;
        default: sqlite3_bind_null(st, c + 1); break;
        }
    }
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(w, "cannot write a row to");
    if (++w->rows[t] % PROGRESS_EVERY == 0)
        report(w, t);
    return 0;
}

/* ---- SAMPLE_APPLICATION ---------------------------------------------------- */

struct app_ctx {
    struct rng r;
    uint32_t flags;
    int pensioner, married, target, revolving;
    double age_days;
};

static int children_count(struct rng *r)
{
    double u = u01(r);
    if (u < 0.7004)
        return 0;
    if (u < 0.8991)
        return 1;
    if (u < 0.9860)
        return 2;
    if (u < 0.9981)
        return 3;
    if (u < 0.99995)
        return 4 + (int)irange(r, 0, 2);
    return (int)irange(r, 7, 19); /* the real maximum is 19 */
}

static void app_person(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    a->target = chance(r, 0.0807);
    a->revolving = chance(r, 29279.0 / 307511);
    put_int(row, A_TARGET, a->target);
    put_text(row, A_NAME_CONTRACT_TYPE, a->revolving ? "Revolving loans" : "Cash loans");
    put_text(row, A_CODE_GENDER, chance(r, 2e-5) ? "XNA" : chance(r, 0.6584) ? "F" : "M");
    int car = chance(r, 0.3401);
    put_text(row, A_FLAG_OWN_CAR, car ? "Y" : "N");
    put_text(row, A_FLAG_OWN_REALTY, chance(r, 0.6937) ? "Y" : "N");
    int children = children_count(r);
    put_int(row, A_CNT_CHILDREN, children);
    put_text(row, A_NAME_TYPE_SUITE, PICK(r, SUITES));
    const char *income_type = PICK(r, INCOME_TYPES);
    /* The sentinel goes with pensioners and the unemployed, as in the data. */
    a->pensioner = strcmp(income_type, "Pensioner") == 0 || strcmp(income_type, "Unemployed") == 0;
    put_text(row, A_NAME_INCOME_TYPE, income_type);
    put_text(row, A_NAME_EDUCATION_TYPE, PICK(r, EDUCATIONS));
    const char *family = PICK(r, FAMILY_STATUSES);
    a->married = strcmp(family, "Married") == 0 || strcmp(family, "Civil marriage") == 0;
    put_text(row, A_NAME_FAMILY_STATUS, family);
    put_text(row, A_NAME_HOUSING_TYPE, PICK(r, HOUSING_TYPES));
    if (chance(r, 6.5e-6))
        put_null(row, A_CNT_FAM_MEMBERS);
    else
        put_real(row, A_CNT_FAM_MEMBERS, children + 1 + a->married);
    /* OWN_CAR_AGE is set only for car owners; a few cars are 63-91 years old. */
    double car_age = chance(r, 0.005) ? (double)irange(r, 63, 91) : floor(clampd(lognormal(r, 9, 0.75), 0, 50));
    if (car && !chance(r, 5e-5))
        put_real(row, A_OWN_CAR_AGE, car_age);
}

static void app_days(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double years = a->pensioner ? uniform(r, 50, 69.07) : 20.51 + 43.0 * (u01(r) + u01(r)) / 2;
    a->age_days = floor(years * 365.25);
    put_int(row, A_DAYS_BIRTH, -(int64_t)a->age_days);
    double worked = clampd(lognormal(r, 1648, 0.95), 0, fmin(17912, a->age_days - 16 * 365.0));
    put_int(row, A_DAYS_EMPLOYED, a->pensioner ? DAYS_NA : -(int64_t)worked);
    double u = u01(r);
    put_real(row, A_DAYS_REGISTRATION, -floor(fmin(24672, a->age_days * 0.75 * u * (0.4 + 0.6 * u))));
    u = u01(r);
    put_int(row, A_DAYS_ID_PUBLISH, -(int64_t)fmin(7197 * u * (0.55 + 0.45 * u), a->age_days - 14 * 365.0));
    if (chance(r, 3e-6))
        put_null(row, A_DAYS_LAST_PHONE_CHANGE);
    else
        put_real(row, A_DAYS_LAST_PHONE_CHANGE, chance(r, 0.12) ? 0.0 : -floor(fmin(expo(r, 1050), 4292)));
}

static double annuity_for(struct rng *r, double credit)
{
    static const int terms[] = {12, 12, 18, 24, 24, 24, 30, 36, 36, 48, 60};
    int n = terms[irange(r, 0, NELEM(terms) - 1)];
    double rate = uniform(r, 0.005, 0.02);
    return credit * rate / (1 - pow(1 + rate, -n));
}

static void app_amounts(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double income = fmax(25650, lognormal(r, 147150, 0.436));
    if (chance(r, 5e-5)) /* a few huge incomes, like the real 117M */
        income *= uniform(r, 20, 200);
    income = round_to(income, chance(r, 0.8) ? 4500 : 450);
    put_real(row, A_AMT_INCOME_TOTAL, income);
    double credit, goods, annuity;
    if (a->revolving) {
        credit = 22500.0 * (double)irange(r, 2, 60);
        goods = credit;
        annuity = credit * (chance(r, 0.5) ? 0.05 : 0.1);
    } else {
        double scale = pow(income / 147150, 0.3);
        goods = round_to(clampd(lognormal(r, 400000 * scale, 0.7), 40500, 4050000), 4500);
        credit = round_to(fmin(4050000, goods * (1 + fmax(0, 0.1 + 0.1 * normal(r)))), 0.5);
        annuity = clampd(annuity_for(r, credit), 1615.5, 258025.5);
    }
    if (chance(r, 1e-4)) /* occasionally the annuity exceeds the credit */
        annuity = credit * uniform(r, 1.05, 2.5);
    put_real(row, A_AMT_CREDIT, credit);
    if (chance(r, 4e-5))
        put_null(row, A_AMT_ANNUITY);
    else
        put_real(row, A_AMT_ANNUITY, round_to(annuity, 0.5));
    if (chance(r, a->revolving ? 0.0095 : 0.0))
        put_null(row, A_AMT_GOODS_PRICE);
    else
        put_real(row, A_AMT_GOODS_PRICE, goods);
}

static void app_contact(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    put_int(row, A_FLAG_MOBIL, !chance(r, 3e-6));
    put_int(row, A_FLAG_EMP_PHONE, a->pensioner ? chance(r, 0.001) : !chance(r, 0.001));
    put_flag(row, A_FLAG_WORK_PHONE, r, a->pensioner ? 0.002 : 0.242);
    put_flag(row, A_FLAG_CONT_MOBILE, r, 0.998);
    put_flag(row, A_FLAG_PHONE, r, 0.281);
    put_flag(row, A_FLAG_EMAIL, r, 0.057);
    if (a->pensioner || chance(r, 0.162))
        put_null(row, A_OCCUPATION_TYPE);
    else
        put_text(row, A_OCCUPATION_TYPE, PICK(r, OCCUPATIONS));
}

static void app_region(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double total = 0, x;
    size_t k;
    for (k = 0; k < NELEM(REGIONS); k++)
        total += REGIONS[k].w;
    x = u01(r) * total;
    for (k = 0; k + 1 < NELEM(REGIONS) && x >= REGIONS[k].w; k++)
        x -= REGIONS[k].w;
    double pop = REGIONS[k].v;
    put_real(row, A_REGION_POPULATION_RELATIVE, pop);
    /* Big cities rate 1, small places 3: the ratings follow population. */
    int rating = pop > 0.03 ? (chance(r, 0.6) ? 1 : 2) : pop < 0.009 ? (chance(r, 0.55) ? 3 : 2) : 2;
    put_int(row, A_REGION_RATING_CLIENT, rating);
    int city = rating + (chance(r, 0.05) ? (chance(r, 0.5) ? 1 : -1) : 0);
    put_int(row, A_REGION_RATING_CLIENT_W_CITY, city < 1 ? 1 : city > 3 ? 3 : city);
    put_text(row, A_WEEKDAY_APPR_PROCESS_START, PICK(r, WEEKDAYS));
    put_int(row, A_HOUR_APPR_PROCESS_START, (int64_t)clampd(floor(12.06 + 3.27 * normal(r) + 0.5), 0, 23));
    double work = a->pensioner ? 0.0 : 1.0; /* no workplace, no workplace mismatch */
    put_flag(row, A_REG_REGION_NOT_LIVE_REGION, r, 0.015);
    put_flag(row, A_REG_REGION_NOT_WORK_REGION, r, 0.062 * work);
    put_flag(row, A_LIVE_REGION_NOT_WORK_REGION, r, 0.050 * work);
    put_flag(row, A_REG_CITY_NOT_LIVE_CITY, r, 0.078);
    put_flag(row, A_REG_CITY_NOT_WORK_CITY, r, 0.280 * work);
    put_flag(row, A_LIVE_CITY_NOT_WORK_CITY, r, 0.219 * work);
    put_text(row, A_ORGANIZATION_TYPE, a->pensioner ? "XNA" : PICK(r, ORGANIZATIONS));
}

static void put_score(struct cell *row, int col, struct rng *r, double null_rate, double mean, double sd, double lo,
                      double hi)
{
    double v = clampd(mean + sd * normal(r), lo, hi);
    if (chance(r, null_rate))
        put_null(row, col);
    else
        put_real(row, col, v);
}

/* Defaulters score lower, which keeps TARGET meaningful for demos. */
static void app_scores(struct cell *row, struct app_ctx *a)
{
    double shift = a->target ? 0.1 : 0.0;
    put_score(row, A_EXT_SOURCE_1, &a->r, 0.564, 0.51 - shift, 0.21, 0.014568, 0.962693);
    put_score(row, A_EXT_SOURCE_2, &a->r, 0.00215, 0.53 - shift, 0.19, 8.17e-08, 0.855);
    put_score(row, A_EXT_SOURCE_3, &a->r, 0.198, 0.52 - shift, 0.195, 0.000527, 0.896);
}

/* One building statistic: missing rate, median, log spread, share of zeros,
 * grid (counts of floors and entrances come normalised in steps), and
 * whether it is "one minus" a small quantity (the years columns sit near 1). */
static const struct building_stat {
    double null_rate, median, sigma, zeros, step;
    int near_one;
} BUILDING[14] = {
    {0.507, 0.0876, 0.75, 0.00, 0, 0},      /* APARTMENTS */
    {0.585, 0.0763, 0.80, 0.12, 0, 0},      /* BASEMENTAREA */
    {0.488, 0.0190, 0.60, 0.00, 0, 1},      /* YEARS_BEGINEXPLUATATION */
    {0.665, 0.2450, 0.50, 0.00, 0, 1},      /* YEARS_BUILD */
    {0.699, 0.0211, 1.00, 0.05, 0, 0},      /* COMMONAREA */
    {0.533, 0.1200, 0.60, 0.45, 0.04, 0},   /* ELEVATORS */
    {0.503, 0.1379, 0.45, 0.00, 1 / 29.0, 0}, /* ENTRANCES */
    {0.498, 0.1667, 0.50, 0.00, 1 / 24.0, 0}, /* FLOORSMAX */
    {0.678, 0.2083, 0.45, 0.00, 1 / 24.0, 0}, /* FLOORSMIN */
    {0.594, 0.0481, 0.90, 0.08, 0, 0},      /* LANDAREA */
    {0.684, 0.0756, 0.75, 0.00, 0, 0},      /* LIVINGAPARTMENTS */
    {0.502, 0.0745, 0.80, 0.00, 0, 0},      /* LIVINGAREA */
    {0.694, 0.0039, 1.00, 0.45, 0, 0},      /* NONLIVINGAPARTMENTS */
    {0.552, 0.0036, 1.20, 0.35, 0, 0},      /* NONLIVINGAREA */
};

static double building_value(struct rng *r, const struct building_stat *b)
{
    if (chance(r, b->zeros))
        return 0;
    double v = lognormal(r, b->median, b->sigma);
    v = b->near_one ? 1 - v : v;
    if (b->step > 0)
        v = round_to(v, b->step);
    return round_to(clampd(v, 0, 1), 0.0001);
}

/* The 47 building columns go missing together, nested by their real rates:
 * one draw per row decides, so a row missing APARTMENTS misses COMMONAREA. */
static void app_building(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double have = u01(r);
    for (int s = 0; s < 14; s++) {
        const struct building_stat *b = &BUILDING[s];
        double v = building_value(r, b);
        double mode = b->step > 0 ? v : round_to(clampd(v * (1 + 0.05 * normal(r)), 0, 1), 0.0001);
        double medi = b->step > 0 ? v : round_to(clampd(v * (1 + 0.02 * normal(r)), 0, 1), 0.0001);
        if (have < b->null_rate)
            continue;
        put_real(row, A_APARTMENTS_AVG + s, v);
        put_real(row, A_APARTMENTS_MODE + s, mode);
        put_real(row, A_APARTMENTS_MEDI + s, medi);
    }
    const char *fond = PICK(r, FONDKAPREMONT), *house = PICK(r, HOUSETYPES), *walls = PICK(r, WALLS);
    const char *emergency = PICK(r, EMERGENCY);
    double total_area = round_to(clampd(lognormal(r, 0.0688, 0.85), 0, 1), 0.0001);
    put_text(row, A_FONDKAPREMONT_MODE, have < 0.684 ? NULL : fond);
    put_text(row, A_HOUSETYPE_MODE, have < 0.502 ? NULL : house);
    put_text(row, A_WALLSMATERIAL_MODE, have < 0.508 ? NULL : walls);
    put_text(row, A_EMERGENCYSTATE_MODE, have < 0.474 ? NULL : emergency);
    if (have >= 0.483)
        put_real(row, A_TOTALAREA_MODE, total_area);
}

static void app_social(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double obs30 = chance(r, 0.535) ? 0 : 1 + floor(fmin(expo(r, 1.8), 46));
    if (chance(r, 1e-5)) /* the real maximum is 348 */
        obs30 = (double)irange(r, 200, 348);
    double obs60 = chance(r, 0.95) ? obs30 : fmax(0, obs30 + (chance(r, 0.5) ? 1 : -1));
    double def30 = obs30 > 0 && chance(r, 0.2) ? fmin(obs30, 1 + (double)chance(r, 0.15)) : 0;
    double def60 = def30 > 0 && chance(r, 0.3) ? def30 - 1 : def30;
    if (chance(r, 0.0033))
        return; /* the four go missing together */
    put_real(row, A_OBS_30_CNT_SOCIAL_CIRCLE, obs30);
    put_real(row, A_DEF_30_CNT_SOCIAL_CIRCLE, def30);
    put_real(row, A_OBS_60_CNT_SOCIAL_CIRCLE, obs60);
    put_real(row, A_DEF_60_CNT_SOCIAL_CIRCLE, def60);
}

static void app_documents(struct cell *row, struct app_ctx *a)
{
    static const double rates[20] = {
        4.2e-5, 0.710, 8.1e-5, 0.0151, 0.088,  1.9e-4, 0.081,  0.0039, 2.3e-5, 0.0039,
        7e-6,   0.0035, 0.0029, 0.0012, 0.0099, 2.7e-4, 0.0081, 6e-4,   5e-4,   3.4e-4,
    };
    for (int d = 0; d < 20; d++)
        put_flag(row, A_FLAG_DOCUMENT_2 + d, &a->r, rates[d]);
}

/* Enquiries to the credit bureau: mostly zero, missing together (13.5 %). */
static void app_requests(struct cell *row, struct app_ctx *a)
{
    struct rng *r = &a->r;
    double hour = chance(r, 0.005), day = chance(r, 0.005), week = chance(r, 0.03);
    double mon = chance(r, 0.835) ? 0 : 1 + floor(expo(r, 1.0));
    double qrt = chance(r, 0.81) ? 0 : 1 + floor(expo(r, 0.5));
    if (chance(r, 5e-6)) /* the real maximum is 261 */
        qrt = (double)irange(r, 19, 261);
    double year = fmin(25, floor(expo(r, 2.3)));
    if (chance(r, 0.135))
        return;
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_HOUR, hour);
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_DAY, day);
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_WEEK, week);
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_MON, mon);
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_QRT, qrt);
    put_real(row, A_AMT_REQ_CREDIT_BUREAU_YEAR, year);
}

static void app_defects(struct cell *row, uint32_t f)
{
    double credit = row[A_AMT_CREDIT].d;
    if (f & F_NEG_CREDIT)
        put_real(row, A_AMT_CREDIT, -credit);
    if (f & F_NEG_INCOME)
        put_real(row, A_AMT_INCOME_TOTAL, -row[A_AMT_INCOME_TOTAL].d);
    if (f & F_TEXT_ANNUITY) /* SQLite keeps text that does not look numeric as text, even in a REAL column */
        put_text(row, A_AMT_ANNUITY, "n/a");
    if (f & X_NULL_ANNUITY)
        put_null(row, A_AMT_ANNUITY);
    if (f & X_EMPLOYED_SENTINEL) { /* the sentinel where it cannot be right: a working employee */
        put_int(row, A_DAYS_EMPLOYED, DAYS_NA);
        put_text(row, A_NAME_INCOME_TYPE, "Working");
        put_text(row, A_ORGANIZATION_TYPE, "Business Entity Type 3");
        put_text(row, A_OCCUPATION_TYPE, "Laborers");
        put_int(row, A_FLAG_EMP_PHONE, 1);
    }
    if (f & X_INCOME_OUTLIER)
        put_real(row, A_AMT_INCOME_TOTAL, 117000000.0);
    if (f & X_ANNUITY_GT_CREDIT)
        put_real(row, A_AMT_ANNUITY, round_to(credit * 1.6, 0.5));
    if (f & X_OLD_CAR) {
        put_text(row, A_FLAG_OWN_CAR, "Y");
        put_real(row, A_OWN_CAR_AGE, 91);
    }
    if (f & X_GENDER_XNA)
        put_text(row, A_CODE_GENDER, "XNA");
    if (f & X_NO_SCORES) {
        put_null(row, A_EXT_SOURCE_1);
        put_null(row, A_EXT_SOURCE_2);
        put_null(row, A_EXT_SOURCE_3);
    }
}

static void gen_application(struct cell *row, const struct plan *p, int64_t id)
{
    struct app_ctx a = {.flags = plan_flags(p, id)};
    rng_init(&a.r, p->seed, (uint64_t)id, STREAM_APP);
    clear_row(row, A_NCOLS);
    put_int(row, A_SK_ID_CURR, id);
    app_person(row, &a);
    app_days(row, &a);
    app_amounts(row, &a);
    app_contact(row, &a);
    app_region(row, &a);
    app_scores(row, &a);
    app_building(row, &a);
    app_social(row, &a);
    app_documents(row, &a);
    app_requests(row, &a);
    app_defects(row, a.flags);
}

static int write_applications(struct writer *w, const struct plan *p, struct cell *row)
{
    w->total[T_APP] = plan_count(p);
    for (uint64_t i = 0; i < plan_count(p); i++) {
        gen_application(row, p, plan_id(p, i));
        int rc = write_row(w, T_APP, row);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- SAMPLE_BUREAU ----------------------------------------------------------- */

struct bureau_ctx {
    struct rng r;
    int64_t id;
    uint32_t flags;
};

/* About 14 % have no bureau record; the rest average ~5.8 with a long tail. */
static int bureau_count(struct rng *r, uint32_t flags)
{
    int n = chance(r, 0.143) ? 0 : 1 + (int)fmin(115, floor(expo(r, 5.3)));
    return (flags & NEEDS_BUREAU) && n < 3 ? 3 : n;
}

static double bureau_money(struct rng *r, double median, double sigma)
{
    return round_to(lognormal(r, median, sigma), chance(r, 0.5) ? 4500 : 0.005);
}

static void bureau_dates(struct cell *row, struct rng *r, const char *status, const char *type)
{
    double u = u01(r);
    int64_t start = -(int64_t)(2922 * u * (0.35 + 0.65 * u));
    put_int(row, B_DAYS_CREDIT, start);
    double years = strcmp(type, "Mortgage") == 0 ? 15 : strcmp(type, "Car loan") == 0 ? 4 : 1.5;
    double end = (double)start + floor(clampd(lognormal(r, years * 365, 0.8), 30, 10950));
    if (chance(r, 0.002)) /* decades ahead: 20,000-31,199 days */
        end = (double)irange(r, 20000, 31199);
    else if (chance(r, 2e-5))
        end = -(double)irange(r, 3000, 42000);
    if (chance(r, 0.061))
        put_null(row, B_DAYS_CREDIT_ENDDATE);
    else
        put_real(row, B_DAYS_CREDIT_ENDDATE, end);
    int closed = strcmp(status, "Closed") == 0;
    double fact = (double)start + floor(u01(r) * (fmin(end, 0) - (double)start));
    if (closed && !chance(r, 0.002)) /* a few closed credits lack the fact date */
        put_real(row, B_DAYS_ENDDATE_FACT, fmax(fact, (double)start));
    int64_t update = closed ? (int64_t)fmax(fact, (double)start) + irange(r, 0, 40) : -irange(r, 0, 60);
    put_int(row, B_DAYS_CREDIT_UPDATE, update > 0 ? 0 : update);
}

static void bureau_amounts(struct cell *row, struct rng *r, const char *status, const char *type)
{
    int card = strcmp(type, "Credit card") == 0, active = strcmp(status, "Active") == 0;
    double scale = strcmp(type, "Mortgage") == 0 ? 8 : strcmp(type, "Car loan") == 0 ? 3 : 1;
    double sum = chance(r, 0.01) ? 0 : bureau_money(r, 125000 * scale, 1.1);
    double debt = active ? sum * pow(u01(r), card ? 1.0 : 0.7) : chance(r, 0.95) ? 0 : sum * 0.1;
    debt = round_to(debt, 0.005);
    double limit = card ? round_to(fmax(0, sum - debt), 0.005) : 0;
    if (chance(r, 0.017)) /* the debt above the credit sum, as in 1.7 % of the real rows */
        debt = round_to(sum * uniform(r, 1.01, 1.6), 0.005);
    else if (chance(r, 0.003)) { /* negative debt mirrored in the limit */
        debt = -round_to(uniform(r, 1, 5000), 0.005);
        limit = -debt;
    }
    double overdue = chance(r, 0.0025) ? round_to(debt * u01(r), 0.005) : 0;
    double max_overdue = chance(r, 0.8) ? 0 : bureau_money(r, 3000, 1.5);
    double annuity = chance(r, 0.6) ? 0 : round_to(sum / uniform(r, 6, 60), 0.005);
    put_real(row, B_AMT_CREDIT_SUM, sum);
    if (chance(r, 1e-5))
        put_null(row, B_AMT_CREDIT_SUM);
    if (!chance(r, 0.15))
        put_real(row, B_AMT_CREDIT_SUM_DEBT, debt);
    if (!chance(r, 0.345))
        put_real(row, B_AMT_CREDIT_SUM_LIMIT, limit);
    put_real(row, B_AMT_CREDIT_SUM_OVERDUE, overdue);
    if (!chance(r, 0.655))
        put_real(row, B_AMT_CREDIT_MAX_OVERDUE, max_overdue);
    if (!chance(r, 0.715))
        put_real(row, B_AMT_ANNUITY, annuity);
}

static void gen_bureau(struct cell *row, struct bureau_ctx *b, int64_t sk_id_bureau)
{
    struct rng *r = &b->r;
    clear_row(row, B_NCOLS);
    put_int(row, B_SK_ID_CURR, b->id);
    put_int(row, B_SK_ID_BUREAU, sk_id_bureau);
    const char *status = PICK(r, CREDIT_ACTIVE), *type = PICK(r, CREDIT_TYPES);
    put_text(row, B_CREDIT_ACTIVE, status);
    put_text(row, B_CREDIT_CURRENCY, PICK(r, CURRENCIES));
    put_text(row, B_CREDIT_TYPE, type);
    put_int(row, B_CREDIT_DAY_OVERDUE, chance(r, 0.0025) ? 1 + (int64_t)fmin(2791, floor(expo(r, 60))) : 0);
    put_int(row, B_CNT_CREDIT_PROLONG, chance(r, 0.9947) ? 0 : irange(r, 1, chance(r, 0.9) ? 2 : 9));
    bureau_dates(row, r, status, type);
    bureau_amounts(row, r, status, type);
}

static double sum_or(const struct cell *row, int col, double dflt)
{
    return row[col].kind == CELL_REAL && row[col].d > 0 ? row[col].d : dflt;
}

/* The example customers' bureau problems, on their first three rows. */
static void bureau_examples(struct cell *row, uint32_t f, int k)
{
    if ((f & X_BUREAU_DEBT) && (k == 1 || k == 2)) {
        double sum = sum_or(row, B_AMT_CREDIT_SUM, 250000);
        put_real(row, B_AMT_CREDIT_SUM, sum);
        put_real(row, B_AMT_CREDIT_SUM_DEBT, k == 1 ? round_to(sum * 1.35, 0.005) : -round_to(sum * 0.02, 0.005));
    }
    if ((f & X_FAR_ENDDATE) && k == 0)
        put_real(row, B_DAYS_CREDIT_ENDDATE, 30990);
    if ((f & X_BUREAU_OVERDUE) && k == 0) {
        put_text(row, B_CREDIT_ACTIVE, "Active");
        put_int(row, B_CREDIT_DAY_OVERDUE, 2750);
        put_real(row, B_AMT_CREDIT_MAX_OVERDUE, 112500000.0);
    }
}

/* A re-delivered bureau record: same key, newer update date, changed debt. */
static void bureau_redelivery(struct cell *row)
{
    int64_t update = row[B_DAYS_CREDIT_UPDATE].i + 7;
    put_int(row, B_DAYS_CREDIT_UPDATE, update > 0 ? 0 : update);
    put_real(row, B_AMT_CREDIT_SUM_DEBT, round_to(sum_or(row, B_AMT_CREDIT_SUM, 90000) * 0.9, 0.005));
}

static int write_bureau_customer(struct writer *w, const struct plan *p, int64_t id, int64_t *next_id,
                                 struct cell *row)
{
    struct bureau_ctx b = {.id = id, .flags = plan_flags(p, id)};
    rng_init(&b.r, p->seed, (uint64_t)id, STREAM_BUREAU);
    int n = bureau_count(&b.r, b.flags), rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        gen_bureau(row, &b, (*next_id)++);
        bureau_examples(row, b.flags, k);
        rc = write_row(w, T_BUREAU, row);
        if (rc == 0 && k == 0 && (b.flags & F_DUP_BUREAU)) {
            bureau_redelivery(row);
            rc = write_row(w, T_BUREAU, row);
        }
    }
    if (rc == 0 && (b.flags & F_NULL_CURR_BUREAU)) {
        gen_bureau(row, &b, (*next_id)++);
        put_null(row, B_SK_ID_CURR);
        rc = write_row(w, T_BUREAU, row);
    }
    return rc;
}

static int write_bureau(struct writer *w, const struct plan *p, struct cell *row)
{
    int64_t next_id = 5000000; /* the real SK_ID_BUREAU range starts there */
    for (uint64_t i = 0; i < plan_count(p); i++) {
        int rc = write_bureau_customer(w, p, plan_id(p, i), &next_id, row);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- SAMPLE_PREVIOUS_APP --------------------------------------------------- */

/* What the instalments pass needs to know about a previous application. */
struct schedule {
    int has;          /* approved, drawn, with due dates */
    int revolving;    /* credit card: version 0, varying amounts */
    int forced;       /* the example / carrier application */
    int cnt;          /* CNT_PAYMENT */
    double annuity;
    int64_t first_due;
    int64_t last_due; /* the last instalment's date, 0 while running */
    double version;
};

struct prev_gen {
    struct rng r;
    int64_t id;
    uint32_t flags;
    int n;
};

static void prev_begin(struct prev_gen *g, const struct plan *p, int64_t id)
{
    g->id = id;
    g->flags = plan_flags(p, id);
    rng_init(&g->r, p->seed, (uint64_t)id, STREAM_PREV);
    g->n = chance(&g->r, 0.054) ? 0 : 1 + (int)fmin(76, floor(expo(&g->r, 5.1)));
    if ((g->flags & NEEDS_SCHEDULE) && g->n < 2)
        g->n = 2;
}

struct prev_kind {
    int cash, consumer, revolving, xna;
    int approved, canceled, refused, unused;
};

static void prev_kind(struct rng *r, int forced, struct prev_kind *k, struct cell *row)
{
    const char *contract = PICK(r, PREV_CONTRACTS), *status = PICK(r, PREV_STATUSES);
    if (forced) { /* an approved cash loan with a full schedule behind it */
        contract = "Cash loans";
        status = "Approved";
    }
    k->cash = strcmp(contract, "Cash loans") == 0;
    k->consumer = strcmp(contract, "Consumer loans") == 0;
    k->revolving = strcmp(contract, "Revolving loans") == 0;
    k->xna = strcmp(contract, "XNA") == 0;
    if (k->xna) /* XNA contracts are cancelled applications in the data */
        status = "Canceled";
    k->approved = strcmp(status, "Approved") == 0;
    k->canceled = strcmp(status, "Canceled") == 0;
    k->refused = strcmp(status, "Refused") == 0;
    k->unused = strcmp(status, "Unused offer") == 0;
    put_text(row, P_NAME_CONTRACT_TYPE, contract);
    put_text(row, P_NAME_CONTRACT_STATUS, status);
}

static int prev_term(struct rng *r, const struct prev_kind *k)
{
    static const int pos[] = {6, 6, 10, 10, 12, 12, 12, 18, 24};
    static const int cash[] = {6, 12, 12, 12, 18, 24, 24, 36, 48, 60};
    if (k->revolving)
        return 0;
    return k->consumer ? pos[irange(r, 0, NELEM(pos) - 1)] : cash[irange(r, 0, NELEM(cash) - 1)];
}

static void prev_amounts(struct rng *r, const struct prev_kind *k, struct cell *row, struct schedule *s)
{
    double app, credit, goods, down = -1, annuity;
    int cnt = prev_term(r, k);
    if (k->consumer) {
        goods = round_to(clampd(lognormal(r, 60000, 1.0), 4500, 4050000), 45);
        down = chance(r, 0.45) ? round_to(goods * uniform(r, 0.05, 0.3), 0.045) : 0;
        app = goods;
        credit = round_to((goods - down) * (chance(r, 0.2) ? 1.1 : 1.0), 0.045);
    } else if (k->revolving) {
        credit = 22500.0 * (double)irange(r, 2, 30);
        app = chance(r, 0.6) ? 0 : credit;
        goods = app;
    } else {
        app = round_to(clampd(lognormal(r, 225000, 0.9), 4500, 4050000), 4500);
        credit = round_to(app * (chance(r, 0.3) ? 1.1 : 1.0), 0.5);
        goods = app;
    }
    annuity = k->revolving ? credit * (chance(r, 0.5) ? 0.05 : 0.1) : annuity_for(r, credit);
    int no_annuity = chance(r, 0.02);
    if (k->canceled) /* a cancelled application never got amounts */
        app = credit = 0;
    s->cnt = cnt;
    s->annuity = round_to(annuity, 0.005);
    put_real(row, P_AMT_APPLICATION, app);
    put_real(row, P_AMT_CREDIT, credit);
    if (!k->canceled && goods > 0)
        put_real(row, P_AMT_GOODS_PRICE, goods);
    if (down >= 0) {
        put_real(row, P_AMT_DOWN_PAYMENT, down);
        put_real(row, P_RATE_DOWN_PAYMENT, app > 0 ? down / app : 0);
    }
    if (!k->canceled && !k->unused && !no_annuity) { /* AMT_ANNUITY and CNT_PAYMENT go missing together */
        put_real(row, P_AMT_ANNUITY, s->annuity);
        put_real(row, P_CNT_PAYMENT, cnt);
    }
}

static void prev_interest(struct rng *r, struct cell *row)
{
    double primary = uniform(r, 0.0348, 1.0), privileged = uniform(r, 0.3732, 1.0);
    if (chance(r, 0.996))
        return;
    put_real(row, P_RATE_INTEREST_PRIMARY, primary);
    put_real(row, P_RATE_INTEREST_PRIVILEGED, privileged);
}

static void prev_labels(struct rng *r, const struct prev_kind *k, struct cell *row)
{
    put_text(row, P_WEEKDAY_APPR_PROCESS_START, PICK(r, WEEKDAYS));
    put_int(row, P_HOUR_APPR_PROCESS_START, (int64_t)clampd(floor(12.5 + 3.3 * normal(r) + 0.5), 0, 23));
    put_text(row, P_FLAG_LAST_APPL_PER_CONTRACT, chance(r, 0.005) ? "N" : "Y");
    put_int(row, P_NFLAG_LAST_APPL_IN_DAY, !chance(r, 0.0035));
    const char *purpose = chance(r, 0.88) ? "XNA" : PICK(r, LOAN_PURPOSES);
    put_text(row, P_NAME_CASH_LOAN_PURPOSE, k->cash ? purpose : "XAP");
    int xna_pay = k->canceled || (k->revolving && chance(r, 0.5)) || chance(r, 0.15);
    put_text(row, P_NAME_PAYMENT_TYPE,
             xna_pay                 ? "XNA"
             : chance(r, 0.99)       ? "Cash through the bank"
             : chance(r, 0.9)        ? "Non-cash from your account"
                                     : "Cashless from the account of the employer");
    const char *reason = PICK(r, REJECT_REASONS);
    put_text(row, P_CODE_REJECT_REASON, k->refused ? reason : k->unused ? "CLIENT" : "XAP");
    put_text(row, P_NAME_TYPE_SUITE, chance(r, 0.491) ? NULL : PICK(r, PREV_SUITES));
    put_text(row, P_NAME_CLIENT_TYPE, PICK(r, CLIENT_TYPES));
    const char *goods = PICK(r, GOODS_CATEGORIES);
    put_text(row, P_NAME_GOODS_CATEGORY, k->consumer ? goods : "XNA");
    const char *portfolio = k->consumer ? (chance(r, 0.0007) ? "Cars" : "POS") : k->revolving ? "Cards" : "Cash";
    put_text(row, P_NAME_PORTFOLIO, k->canceled || k->xna ? "XNA" : portfolio);
    double u = u01(r);
    const char *product = k->cash ? (u < 0.6 ? "x-sell" : u < 0.8 ? "walk-in" : "XNA") : "XNA";
    put_text(row, P_NAME_PRODUCT_TYPE, product);
    put_text(row, P_CHANNEL_TYPE, k->consumer ? PICK(r, POS_CHANNELS) : k->revolving ? PICK(r, CARD_CHANNELS)
                                                                                        : PICK(r, CASH_CHANNELS));
    const char *industry = PICK(r, SELLER_INDUSTRIES);
    put_text(row, P_NAME_SELLER_INDUSTRY, k->consumer ? industry : "XNA");
    /* -1 = no seller place (cash loans, cards); one outlier of 4,000,000. */
    int64_t area = chance(r, 2e-6) ? 4000000 : (int64_t)fmin(20000, floor(lognormal(r, 60, 1.5)));
    put_int(row, P_SELLERPLACE_AREA, k->consumer || chance(r, 0.05) ? area : -1);
    const char *yield = PICK(r, YIELD_GROUPS);
    put_text(row, P_NAME_YIELD_GROUP, k->canceled || k->revolving ? "XNA" : yield);
}

static const char *prev_combination(struct rng *r, const struct prev_kind *k, const char *product,
                                    const char *yield)
{
    static const char *const xsell[] = {"Cash X-Sell: middle", "Cash X-Sell: high", "Cash X-Sell: low"};
    static const char *const street[] = {"Cash Street: middle", "Cash Street: high", "Cash Street: low"};
    const char *pos = PICK(r, POS_PRODUCTS);
    int y = strcmp(yield, "high") == 0 ? 1 : strncmp(yield, "low", 3) == 0 ? 2 : 0;
    if (chance(r, 2e-4))
        return NULL;
    if (k->consumer)
        return pos;
    if (k->revolving)
        return strcmp(product, "x-sell") == 0 || chance(r, 0.4) ? "Card X-Sell" : "Card Street";
    if (k->canceled || k->xna)
        return "Cash";
    return strcmp(product, "walk-in") == 0 ? street[y] : xsell[y];
}

/* The five DAYS_* columns of a decision: NULL together unless approved,
 * 365243 where the event has not happened (never drawn, still running). */
static void prev_days(struct rng *r, const struct prev_kind *k, int forced, struct cell *row, struct schedule *s)
{
    double u = u01(r);
    int64_t decision = forced ? -irange(r, 430, 700) : -(1 + (int64_t)(2921 * u * u));
    put_int(row, P_DAYS_DECISION, decision);
    int64_t first_due = decision + irange(r, 20, 45);
    int64_t drawing = decision + irange(r, 0, 30);
    int never_due = !forced && chance(r, k->revolving ? 0.3 : 0.02), insured = chance(r, 0.33);
    int64_t last_1st = first_due + 30 * (s->cnt > 0 ? s->cnt - 1 : 0);
    /* Most loans end before their schedule (repaid early, refinanced), so only
     * about a fifth of the approved ones are still running, as in the data. */
    int64_t due_by_today = first_due <= 0 ? -first_due / 30 : -1; /* index of the latest due instalment */
    int64_t last_index = s->cnt > 0 && s->cnt - 1 < due_by_today ? s->cnt - 1 : due_by_today;
    int closes = !forced && chance(r, k->revolving ? 0.35 : last_1st > 0 ? 0.7 : 0.3);
    int64_t last = closes && last_index >= 0 ? first_due + 30 * irange(r, 0, last_index) : last_1st;
    int64_t term = last + irange(r, 0, 10);
    int running = never_due || last > 0 || (k->revolving && !(closes && last_index >= 0));
    if (!k->approved || (!forced && chance(r, 0.03)))
        return;
    put_real(row, P_DAYS_FIRST_DRAWING, k->revolving && !never_due ? (double)drawing : DAYS_NA);
    put_real(row, P_DAYS_FIRST_DUE, never_due ? DAYS_NA : (double)first_due);
    put_real(row, P_DAYS_LAST_DUE_1ST_VERSION, k->revolving || never_due ? DAYS_NA : (double)last_1st);
    put_real(row, P_DAYS_LAST_DUE, running ? DAYS_NA : (double)last);
    put_real(row, P_DAYS_TERMINATION, running ? DAYS_NA : (double)term);
    put_real(row, P_NFLAG_INSURED_ON_APPROVAL, insured);
    s->has = !never_due && (k->revolving || s->cnt > 0);
    s->first_due = first_due;
    s->last_due = running ? 0 : last;
}

static void prev_row(struct prev_gen *g, int k, int64_t sk_id_prev, struct cell *row, struct schedule *s)
{
    struct rng *r = &g->r;
    int forced = k == 0 && (g->flags & NEEDS_SCHEDULE);
    struct prev_kind kind;
    clear_row(row, P_NCOLS);
    memset(s, 0, sizeof(*s));
    put_int(row, P_SK_ID_PREV, sk_id_prev);
    put_int(row, P_SK_ID_CURR, g->id);
    prev_kind(r, forced, &kind, row);
    prev_amounts(r, &kind, row, s);
    if (forced) {
        s->cnt = 12;
        put_real(row, P_CNT_PAYMENT, 12);
        put_real(row, P_AMT_ANNUITY, s->annuity);
    }
    prev_interest(r, row);
    prev_labels(r, &kind, row);
    put_text(row, P_PRODUCT_COMBINATION,
             prev_combination(r, &kind, row[P_NAME_PRODUCT_TYPE].s, row[P_NAME_YIELD_GROUP].s));
    prev_days(r, &kind, forced, row, s);
    s->revolving = kind.revolving;
    s->forced = forced;
    s->version = kind.revolving ? 0 : chance(r, 0.93) ? 1 : chance(r, 0.85) ? 2 : 3;
    if (forced && (g->flags & X_NEG_DOWN_PAYMENT)) {
        put_real(row, P_AMT_DOWN_PAYMENT, -4.5);
        put_real(row, P_RATE_DOWN_PAYMENT, -0.000032);
    }
}

static int write_previous(struct writer *w, const struct plan *p, struct cell *row)
{
    int64_t next_id = 1000001; /* the real SK_ID_PREV range starts there */
    struct schedule s;
    for (uint64_t i = 0; i < plan_count(p); i++) {
        struct prev_gen g;
        prev_begin(&g, p, plan_id(p, i));
        for (int k = 0; k < g.n; k++) {
            prev_row(&g, k, next_id++, row, &s);
            int rc = write_row(w, T_PREV, row);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

/* ---- SAMPLE_INSTALLMENTS --------------------------------------------------- */

struct inst_ctx {
    struct rng r;
    int64_t curr, prev;
    uint32_t flags;
};

/* How one instalment was paid. */
struct payment {
    double due, amount, entry, paid;
    double first, gap; /* a split payment: first part, days until the rest */
    int split, unpaid;
};

/* Usually on time and in full; late, partial, split in two or overpaid at
 * about the real rates; the latest instalment is occasionally still unpaid. */
static void draw_payment(struct rng *r, const struct schedule *s, int n, int last, struct payment *p)
{
    p->due = (double)s->first_due + 30.0 * (n - 1);
    p->amount = s->revolving ? round_to(s->annuity * uniform(r, 0.2, 1.5), 0.005) : s->annuity;
    if (!s->revolving && n == s->cnt && chance(r, 0.3)) /* a smaller final instalment */
        p->amount = round_to(p->amount * uniform(r, 0.3, 1.0), 0.005);
    double u = u01(r);
    int64_t late = irange(r, 1, 40);
    p->entry = p->due - (double)irange(r, 0, 25);
    if (u < 0.08 && p->due + (double)late <= 0) /* never paid in the future */
        p->entry = p->due + (double)late;
    u = u01(r);
    p->paid = u < 0.02   ? round_to(p->amount * uniform(r, 0.1, 0.95), 0.005)
              : u < 0.03 ? round_to(p->amount * uniform(r, 1.05, 2.0), 0.005)
                         : p->amount;
    p->split = !s->forced && u >= 0.03 && u < 0.07; /* keeps the examples' rows easy to read */
    p->first = round_to(p->amount * uniform(r, 0.3, 0.7), 0.005);
    p->gap = (double)irange(r, 1, 20);
    p->unpaid = last && chance(r, 0.002);
}

/* The example customers' instalment problems, all on their first loan, whose
 * due dates all lie before day -40. */
static void example_payment(struct rng *r, uint32_t f, int n, int last, struct payment *p)
{
    if (f & X_LATE_INSTALMENTS)
        p->entry = p->due + (double)irange(r, 15, 30);
    if (n == 1 && (f & X_OVERPAID))
        p->paid = p->amount * 2;
    if (last && (f & X_UNPAID))
        p->unpaid = 1;
}

static int write_payment(struct writer *w, struct inst_ctx *c, struct cell *row, const struct schedule *s, int n,
                         int last)
{
    struct payment p;
    draw_payment(&c->r, s, n, last, &p);
    if (s->forced)
        example_payment(&c->r, c->flags, n, last, &p);
    clear_row(row, I_NCOLS);
    put_int(row, I_SK_ID_PREV, c->prev);
    put_int(row, I_SK_ID_CURR, c->curr);
    put_real(row, I_NUM_INSTALMENT_VERSION, s->version);
    put_int(row, I_NUM_INSTALMENT_NUMBER, n);
    put_real(row, I_DAYS_INSTALMENT, p.due);
    put_real(row, I_AMT_INSTALMENT, p.amount);
    if (!p.unpaid) { /* an unpaid instalment has neither a date nor an amount */
        put_real(row, I_DAYS_ENTRY_PAYMENT, p.entry);
        put_real(row, I_AMT_PAYMENT, p.split ? p.first : p.paid);
    }
    int rc = write_row(w, T_INST, row);
    if (rc == 0 && p.split && !p.unpaid) { /* the rest of a split payment, a few days later */
        put_real(row, I_DAYS_ENTRY_PAYMENT, fmin(0, p.entry + p.gap));
        put_real(row, I_AMT_PAYMENT, round_to(p.amount - p.first, 0.005));
        rc = write_row(w, T_INST, row);
    }
    if (rc == 0 && s->forced && n == 1 && (c->flags & F_DUP_INSTALMENT)) /* the same row delivered twice */
        rc = write_row(w, T_INST, row);
    return rc;
}

/* Rows for the instalments due by today (day 0), the latest MAX_INSTALMENTS. */
static int write_schedule(struct writer *w, struct inst_ctx *c, struct cell *row, const struct schedule *s)
{
    if (!s->has || s->first_due > s->last_due)
        return 0;
    int due = (int)((s->last_due - s->first_due) / 30) + 1;
    if (!s->revolving && due > s->cnt)
        due = s->cnt;
    int from = due - MAX_INSTALMENTS + 1 > 1 ? due - MAX_INSTALMENTS + 1 : 1;
    for (int n = from; n <= due; n++) {
        int rc = write_payment(w, c, row, s, n, n == due);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Instalments of a previous application nobody has: ids below the real
 * SK_ID_PREV range, so they can never match one. */
static int write_orphans(struct writer *w, struct inst_ctx *c, struct cell *row)
{
    struct schedule s = {.has = 1, .cnt = 24, .annuity = 5250.375, .first_due = -200, .last_due = 0, .version = 1};
    c->prev = 900000 + c->curr % 100000;
    return write_schedule(w, c, row, &s);
}

static int write_instalments(struct writer *w, const struct plan *p, struct cell *prow, struct cell *row)
{
    int64_t next_id = 1000001; /* replays write_previous's numbering */
    struct schedule s;
    for (uint64_t i = 0; i < plan_count(p); i++) {
        struct prev_gen g;
        struct inst_ctx c = {.curr = plan_id(p, i), .flags = plan_flags(p, plan_id(p, i))};
        prev_begin(&g, p, c.curr);
        rng_init(&c.r, p->seed, (uint64_t)c.curr, STREAM_INST);
        int rc = 0;
        for (int k = 0; k < g.n && rc == 0; k++) {
            c.prev = next_id;
            prev_row(&g, k, next_id++, prow, &s);
            rc = write_schedule(w, &c, row, &s);
        }
        if (rc == 0 && (c.flags & F_ORPHAN_INST))
            rc = write_orphans(w, &c, row);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- database setup -------------------------------------------------------- */

static int exec(struct writer *w, const char *sql, const char *what)
{
    if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    return db_fail(w, what);
}

static int create_table(struct writer *w, int t)
{
    const struct table_def *d = &TABLES[t];
    char sql[8192], ins[2048];
    size_t n = (size_t)snprintf(sql, sizeof(sql), "CREATE TABLE %s (", d->name);
    size_t m = (size_t)snprintf(ins, sizeof(ins), "INSERT INTO %s VALUES (", d->name);
    for (int c = 0; c < d->ncols; c++) {
        const struct colspec *col = &d->cols[c];
        const char *type = col->type == TYPE_I ? "INTEGER" : col->type == TYPE_R ? "REAL" : "TEXT";
        int pk = d->rowid_pk != NULL && strcmp(d->rowid_pk, col->name) == 0;
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s%s %s%s", c ? ", " : "", col->name, type,
                              pk ? " PRIMARY KEY" : "");
        m += (size_t)snprintf(ins + m, sizeof(ins) - m, "%s?", c ? "," : "");
    }
    snprintf(sql + n, sizeof(sql) - n, ")");
    snprintf(ins + m, sizeof(ins) - m, ")");
    int rc = exec(w, sql, "cannot create a table in");
    if (rc != 0)
        return rc;
    if (sqlite3_prepare_v2(w->db, ins, -1, &w->ins[t], NULL) != SQLITE_OK)
        return db_fail(w, "cannot prepare an insert into");
    return 0;
}

/* Speed over safety while writing: the file is a temporary one, renamed into
 * place only once complete, so a crash leaves nothing half-written behind.
 * 16 KiB pages cut system time by a third against 4 KiB; index sorting stays
 * on temporary files (temp_store=MEMORY would hold ~1.5 GB per million
 * customers for a second or two of gain). */
static const char PRAGMAS[] = "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA locking_mode=EXCLUSIVE;"
                              "PRAGMA cache_size=-65536;";

static int open_db(struct writer *w)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(w->path, &w->db, flags, NULL) != SQLITE_OK)
        return db_fail(w, "cannot create");
    int rc = exec(w, PRAGMAS, "cannot configure");
    if (rc == 0)
        rc = exec(w, "BEGIN", "cannot start a transaction in");
    for (int t = 0; t < T_COUNT && rc == 0; t++)
        rc = create_table(w, t);
    return rc;
}

static void close_db(struct writer *w)
{
    for (int t = 0; t < T_COUNT; t++) {
        sqlite3_finalize(w->ins[t]);
        w->ins[t] = NULL;
    }
    sqlite3_close(w->db);
    w->db = NULL;
}

static int finish_db(struct writer *w)
{
    for (int t = 0; t < T_COUNT; t++) {
        int rc = exec(w, TABLES[t].indexes, "cannot create the indexes of");
        if (rc != 0)
            return rc;
    }
    int rc = exec(w, "COMMIT", "cannot finish writing");
    if (rc != 0)
        return rc;
    for (int t = 0; t < T_COUNT; t++) {
        sqlite3_finalize(w->ins[t]);
        w->ins[t] = NULL;
    }
    if (sqlite3_close(w->db) != SQLITE_OK)
        return db_fail(w, "cannot close");
    w->db = NULL;
    return 0;
}

static int generate(struct writer *w, const struct plan *p)
{
    struct cell row[A_NCOLS], prow[P_NCOLS];
    int rc = open_db(w);
    if (rc == 0 && (rc = write_applications(w, p, row)) == 0)
        report(w, T_APP);
    if (rc == 0 && (rc = write_bureau(w, p, row)) == 0)
        report(w, T_BUREAU);
    if (rc == 0 && (rc = write_previous(w, p, row)) == 0)
        report(w, T_PREV);
    if (rc == 0 && (rc = write_instalments(w, p, prow, row)) == 0)
        report(w, T_INST);
    return rc == 0 ? finish_db(w) : rc;
}

/* ---- files --------------------------------------------------------------- */

static int sys_fail(struct cs_err *err, const char *what, const char *path)
{
    return cs_err_set(err, CS_ESOURCE, "demo-data: %s '%s': %s", what, path, strerror(errno));
}

static void dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

/* Fail early, with a message naming the real problem, rather than after a
 * minute of generating. */
static int check_out(const char *out, struct cs_err *err)
{
    char dir[4096];
    struct stat st;
    dir_of(out, dir, sizeof(dir));
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cs_err_set(err, CS_ESOURCE, "demo-data: cannot write '%s': directory '%s' does not exist", out, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cs_err_set(err, CS_ESOURCE, "demo-data: cannot write '%s': directory '%s' is not writable", out, dir);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return cs_err_set(err, CS_ESOURCE, "demo-data: cannot write '%s': it is a directory", out);
    return 0;
}

static int sync_path(const char *path, int dir, struct cs_err *err)
{
    int fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0) | O_CLOEXEC);
    if (fd < 0)
        return sys_fail(err, "cannot open", path);
    int rc = fsync(fd) == 0 || (dir && errno == EINVAL) ? 0 : sys_fail(err, "cannot flush", path);
    close(fd);
    return rc;
}

/* fsync the data, rename over out, fsync the directory: out is the old file
 * or the whole new one, even across a power cut. */
static int publish(const char *tmp, const char *out, struct cs_err *err)
{
    char dir[4096];
    int rc = sync_path(tmp, 0, err);
    if (rc != 0)
        return rc;
    if (rename(tmp, out) != 0)
        return sys_fail(err, "cannot rename the finished file to", out);
    dir_of(out, dir, sizeof(dir));
    struct cs_err dir_err = {0};
    if (sync_path(dir, 1, &dir_err) != 0) /* the data is in place; only the name's durability is in doubt */
        cs_log(CS_LOG_WARNING, "demodata", "%s", dir_err.msg);
    return 0;
}

static int check_opts(const struct cs_demodata_opts *o, struct cs_err *err)
{
    if (o == NULL || o->out == NULL || o->out[0] == '\0')
        return cs_err_set(err, CS_EUSAGE, "demo-data: an output file is needed (--out FILE.db)");
    if (o->customers < 1 || o->customers > CS_DEMODATA_MAX_CUSTOMERS)
        return cs_err_set(err, CS_EUSAGE, "demo-data: --customers must be between 1 and %u, got %llu",
                          CS_DEMODATA_MAX_CUSTOMERS, (unsigned long long)o->customers);
    return check_out(o->out, err);
}

int cs_demodata_write(const struct cs_demodata_opts *o, struct cs_err *err)
{
    int rc = check_opts(o, err);
    if (rc != 0)
        return rc;
    size_t len = strlen(o->out) + 32;
    char *tmp = malloc(len);
    if (tmp == NULL)
        return cs_err_set(err, CS_ENOMEM, "demo-data: out of memory");
    snprintf(tmp, len, "%s.tmp-%ld", o->out, (long)getpid());
    unlink(tmp); /* a leftover of a killed run with the same pid */
    struct plan plan;
    plan_init(&plan, o->seed, o->customers);
    struct writer w = {.o = o, .path = tmp, .err = err};
    rc = generate(&w, &plan);
    if (rc == 0)
        rc = publish(tmp, o->out, err);
    if (rc != 0) {
        close_db(&w);
        unlink(tmp);
    } else {
        cs_log(CS_LOG_INFO, "demodata", "wrote %s: %llu applications, %llu bureau, %llu previous, %llu instalments",
               o->out, (unsigned long long)w.rows[T_APP], (unsigned long long)w.rows[T_BUREAU],
               (unsigned long long)w.rows[T_PREV], (unsigned long long)w.rows[T_INST]);
    }
    free(tmp);
    return rc;
}
