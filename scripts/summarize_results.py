#!/usr/bin/env python3
"""Adds up the JUnit XML files of every suite in a folder and prints one line,
`N passed, N failed, N skipped`; exits 1 when anything failed or nothing ran."""
import pathlib
import sys
import xml.etree.ElementTree as ET


def main(folder: str) -> int:
    passed = failed = skipped = 0
    failures = []
    results = pathlib.Path(folder)
    for marker in results.glob("*.failed"):
        failed += 1
        failures.append(marker.stem)
    xml_files = sorted(results.glob("*.xml"))
    for path in xml_files:
        for case in ET.parse(path).getroot().iter("testcase"):
            name = f"{path.stem}: {case.get('classname', '')}.{case.get('name', '')}"
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                failures.append(name)
            elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
                skipped += 1
            else:
                passed += 1
    for name in failures:
        print(f"FAILED {name}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
