"""Example admin script: runs after the parser for mails the website rule matched.

`mail` is the parsed email (read-only: mail.subject, mail.text, mail.from_addr, mail.header()).
`lead` is the extracted lead: set any of first_name, last_name, email, phone, address,
property_address, price, message, stage, segment, tags, custom_fields.
"""

import re


def process(mail, lead):
    # The form has a free "Budget" answer; keep it as a custom field and as the price.
    m = re.search(r"^budget:\s*(.+)$", mail.text, re.I | re.M)
    if m:
        lead.custom_fields["budget"] = m.group(1).strip()
        lead.price = lead.price or m.group(1)
    if "relocat" in (lead.message or "").lower():
        lead.tags.append("relocation")
