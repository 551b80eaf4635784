"""一楼一码 fire codes: unguessable tokens, QR images, PDF label sheets, scan pages; they take
plain data or a session and return bytes or HTML."""
