create_image:1:"Office 2021 und Treiber",upload_image:1,halt
