"""Write the bundled synthetic pool: job and resume files, ground truth, group labels.

    python -m scenarios.recruitment.generate [--seed 7] [--jobs 8] [--resumes 160]
                                             [--out scenarios/recruitment/data]

Writes ``jobs/`` and ``resumes/`` (Markdown, plain text and JSON files, as people send
them), ``ground_truth.json`` (per job: the best candidate and the planted near misses,
ranked by the generator's utility) and ``groups.json`` (each candidate's gender, origin
group and age band). The same seed always writes the same files. The people are made up:
names come from ``_lexicon.py``, e-mail addresses use ``example.com``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from typing import Any

from scenarios.recruitment import _lexicon as lex
from scenarios.recruitment._synth import REFERENCE_YEAR, JobSpec, Person, Pool, generate, load_roles
from scenarios.recruitment.messages import Document

DATA_DIR = Path(__file__).parent / "data"
SUFFIX = {"markdown": ".md", "text": ".txt", "json": ".json"}
_REQ = ("Experience with {s}", "Strong {s} skills", "Hands-on {s}", "Solid knowledge of {s}",
        "{s} in a professional setting")
_PRONOUNS = {"female": ("She", "her"), "male": ("He", "his")}


def _roles(p: Person) -> list[dict[str, Any]]:
    """Employment history: titles, organisations, years, bullets using the skills."""
    rng = random.Random(p.extra["outcome_seed"])
    role = load_roles()[p.family]
    orgs = ("Northwind", "Contoso", "Globex", "Initech", "Umbrella Health", "Acme",
            "Blue Harbor", "Summit Partners", "Brightpath", "Evergreen Schools")
    end = REFERENCE_YEAR - rng.randint(0, 1)
    out = []
    skills = list(p.skills)
    rng.shuffle(skills)
    for i, length in enumerate(p.extra["roles"]):
        used = [skills[(2 * i + k) % len(skills)] for k in range(3)] if skills else ["it"]
        outcomes = rng.sample(role["outcomes"], 2)
        title = rng.choice(role["titles"])
        if i == 0 and p.years >= 6:
            title = f"Senior {title}"
        out.append({"title": title, "organisation": rng.choice(orgs), "start": end - length,
                    "end": end, "highlights": [
                        f"{outcomes[0].capitalize()} using {used[0]} and {used[1]}.",
                        f"Led {role['domain']} work with {used[2]}; {outcomes[1]}."]})
        end -= length
    return out


def _summary(p: Person) -> str:
    role = load_roles()[p.family]
    rng = random.Random(p.extra["outcome_seed"] + 1)
    text = f"{rng.choice(role['titles'])} with {p.years} years of experience in {role['domain']}."
    if p.extra["third_person"]:
        she, her = _PRONOUNS[p.gender]
        text += rng.choice((f" {she} is known for clear writing and patient mentoring.",
                            f" {she} enjoys hard problems and sharing {her} knowledge.",
                            f" Colleagues describe {her.replace('his', 'him')} as calm under "
                            "pressure."))
    if p.extra["children"]:
        text += " " + rng.choice(("Parent of two", "Mother of two" if p.gender == "female"
                                  else "Father of two")) + "."
    return text


def _education(p: Person) -> str:
    grad = min(REFERENCE_YEAR - p.age + 22,
               min((r["start"] for r in _roles(p)), default=REFERENCE_YEAR))
    schools = ("Northfield University", "Riverside College", "Lakeview Institute",
               "State University", "Eastgate Polytechnic")
    school = schools[p.extra["outcome_seed"] % len(schools)]
    return f"{load_roles()[p.family]['degree']}, {school}, {grad}"


def _personal(p: Person) -> list[tuple[str, str]]:
    x = p.extra
    rows = [("Email", x["email"]), ("Phone", x["phone"])]
    if x["linkedin"]:
        rows.append(("LinkedIn", x["linkedin"]))
    if x["address"]:
        rows.append(("Address", f"{x['address']}, {x['city']}"))
    if x["show_birth"]:
        rows.append(("Date of birth", f"14 March {REFERENCE_YEAR - p.age}"))
    elif x["show_age"]:
        rows.append(("Age", str(p.age)))
    if x["nationality"]:
        rows.append(("Nationality", x["nationality"]))
    if x["marital"]:
        rows.append(("Marital status", x["marital"]))
    return rows


def render_resume(p: Person) -> Document:
    fmt = p.extra["format"]
    roles = _roles(p)
    if fmt == "json":
        data: dict[str, Any] = {"name": p.name, "location": p.extra["city"],
                                "summary": _summary(p), "skills": p.skills,
                                "experience": roles, "education": [_education(p)]}
        data["personal"] = {k.lower().replace(" ", "_"): v for k, v in _personal(p)}
        if p.extra["photo"]:
            data["photo"] = p.extra["photo"]
        return Document(source=f"resumes/{p.id}.json", format="json", kind="resume",
                        text=json.dumps(data, indent=2, ensure_ascii=False))
    md = fmt == "markdown"
    h1, h2 = ("# ", "## ") if md else ("", "")
    lines = [f"{h1}{p.name}" if md else p.name.upper()]
    if p.extra["photo"]:
        lines.append(f"![photo]({p.extra['photo']})" if md else f"Photo: {p.extra['photo']}")
    lines.append(" | ".join(f"{k}: {v}" for k, v in _personal(p)))
    lines.append(f"Location: {p.extra['city']}")
    head = (lambda t: f"{h2}{t}") if md else (lambda t: t.upper())
    lines += ["", head("Summary"), _summary(p), "", head("Skills")]
    lines += [f"- {s}" for s in p.skills] if md else [", ".join(p.skills)]
    if roles:
        lines += ["", head("Experience")]
        for r in roles:
            period = f"{r['start']} \u2013 {r['end']}" if md else f"{r['start']} - {r['end']}"
            lines.append(f"### {r['title']}, {r['organisation']} ({period})" if md
                         else f"{r['title']} - {r['organisation']} ({period})")
            lines += [f"{'-' if md else '*'} {h}" for h in r["highlights"]]
    lines += ["", head("Education"), f"- {_education(p)}" if md else _education(p)]
    return Document(source=f"resumes/{p.id}{SUFFIX[fmt]}", format=fmt, kind="resume",
                    text="\n".join(lines) + "\n")


def render_job(job: JobSpec, index: int) -> Document:
    rng = random.Random(f"{job.id}:{index}")
    role = load_roles()[job.family]
    reqs = [f"At least {job.min_years} years of experience in {role['domain']}"]
    reqs += [rng.choice(_REQ).format(s=s) for s in job.required]
    article = "an" if job.title[0] in "AEIOU" else "a"
    summary = f"We are looking for {article} {job.title} to join our {role['domain']} team."
    fmt = ("markdown", "markdown", "text", "json")[index % 4]
    if fmt == "json":
        text = json.dumps({"title": job.title, "location": job.location, "summary": summary,
                           "requirements": reqs, "responsibilities": job.responsibilities},
                          indent=2)
    elif fmt == "markdown":
        text = "\n".join([f"# {job.title}", f"Location: {job.location}", "", "## About the role",
                          summary, "", "## Requirements", *(f"- {r}" for r in reqs), "",
                          "## Responsibilities", *(f"- {r}" for r in job.responsibilities)])
    else:
        text = "\n".join([job.title, f"Location: {job.location}", "", "SUMMARY", summary, "",
                          "REQUIREMENTS", *(f"* {r}" for r in reqs), "", "RESPONSIBILITIES",
                          *(f"* {r}" for r in job.responsibilities)])
    return Document(source=f"jobs/{job.id}{SUFFIX[fmt]}", format=fmt, kind="job",
                    text=text + "\n")


def documents(pool: Pool) -> tuple[list[Document], list[Document]]:
    """The pool's job and resume documents (``source`` relative to the pool folder)."""
    return ([render_job(j, i) for i, j in enumerate(pool.jobs)],
            [render_resume(p) for p in pool.people])


def write_pool(pool: Pool, out: Path) -> None:
    jobs, resumes = documents(pool)
    for sub in ("jobs", "resumes"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    for doc in (*jobs, *resumes):
        (out / doc.source).write_text(doc.text, encoding="utf-8")
    (out / "ground_truth.json").write_text(json.dumps(pool.truth(), indent=1) + "\n")
    (out / "groups.json").write_text(json.dumps(pool.groups(), indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--resumes", type=int, default=160)
    ap.add_argument("--out", type=Path, default=DATA_DIR)
    args = ap.parse_args(argv)
    pool = generate(args.seed, jobs=args.jobs, resumes=args.resumes)
    write_pool(pool, args.out)
    groups = {k: sorted({g[k] for g in pool.groups().values()})
              for k in ("gender", "origin", "age_band")}
    print(f"wrote {len(pool.jobs)} jobs and {len(pool.people)} resumes to {args.out} "
          f"(seed {args.seed}; groups {groups}; origins from {', '.join(lex.ORIGINS)})")


if __name__ == "__main__":
    main()
