"""The synthetic world's built-in lexicon: an interest taxonomy and attributes with real words (and synonyms)
in en/es/fr/de, so one interest reads differently across languages: the gap engaged queries and boards bridge.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

LANGUAGES = ("en", "es", "fr", "de")

# One line per concept: `T` top-level interest, `S` sub-interest, `L` leaf. Columns: en | es | fr | de, with
# synonyms separated by "/" (the first is the canonical name). A `T` line adds `; attribute kinds its items
# carry ; weight among pins ; weight among products` (shoppable interests get more products).
_TAXONOMY = """
T home decor | decoración del hogar/decoración | décoration intérieure/déco maison | Wohndeko/Einrichtung ; color material style ; 3.0 ; 3.0
S living room | sala de estar/salón | salon | Wohnzimmer
L sofa/couch | sofá | canapé | Sofa/Couch
L coffee table | mesa de centro | table basse | Couchtisch
L rug | alfombra | tapis | Teppich
L bookshelf | estantería/librero | bibliothèque/étagère | Bücherregal
S bedroom | dormitorio/habitación | chambre | Schlafzimmer
L headboard | cabecero | tête de lit | Kopfteil
L bedding | ropa de cama | linge de lit | Bettwäsche
L nightstand | mesita de noche | table de chevet | Nachttisch
L wardrobe | armario | armoire/penderie | Kleiderschrank
S kitchen | cocina | cuisine | Küche
L kitchen island | isla de cocina | îlot central | Kücheninsel
L backsplash | salpicadero | crédence | Fliesenspiegel
L open shelving | estantes abiertos | étagères ouvertes | offene Regale
L pantry | despensa | garde-manger | Speisekammer
S bathroom | baño | salle de bain | Badezimmer/Bad
L bathroom vanity | mueble de baño/tocador | meuble vasque | Waschtisch
L walk in shower | ducha a ras de suelo | douche italienne | begehbare Dusche
L bathroom tiles | azulejos de baño | carrelage salle de bain | Badfliesen
L towel rack | toallero | porte-serviettes | Handtuchhalter
T recipes | recetas | recettes | Rezepte ; diet season ; 3.0 ; 0.4
S desserts | postres | desserts | Desserts/Nachspeisen
L chocolate cake | tarta de chocolate/pastel de chocolate | gâteau au chocolat | Schokoladenkuchen
L cheesecake | tarta de queso | gâteau au fromage/cheesecake | Käsekuchen
L cookies | galletas | biscuits/cookies | Kekse/Plätzchen
L brownies | brownies | brownies | Brownies
S dinner | cena | dîner | Abendessen
L lasagna | lasaña | lasagnes | Lasagne
L chicken curry | curry de pollo | curry de poulet | Hähnchencurry
L tacos | tacos | tacos | Tacos
L roast chicken | pollo asado | poulet rôti | Brathähnchen
S breakfast | desayuno | petit déjeuner | Frühstück
L pancakes | tortitas/panqueques | pancakes/crêpes | Pfannkuchen
L smoothie bowl | bol de batido | smoothie bowl | Smoothie Bowl
L overnight oats | avena nocturna | porridge overnight | Overnight Oats
L avocado toast | tostada de aguacate | tartine avocat | Avocado Toast
S soups and salads | sopas y ensaladas | soupes et salades | Suppen und Salate
L tomato soup | sopa de tomate | soupe de tomates | Tomatensuppe
L caesar salad | ensalada césar | salade césar | Caesar Salat
L lentil soup | sopa de lentejas | soupe de lentilles | Linsensuppe
L pasta salad | ensalada de pasta | salade de pâtes | Nudelsalat
T fashion | moda | mode | Mode ; color material style season ; 3.0 ; 3.0
S outfits | outfits/conjuntos | tenues/looks | Outfits
L dress | vestido | robe | Kleid
L jeans | vaqueros/jeans | jean | Jeans
L blazer | americana/blazer | blazer | Blazer
L skirt | falda | jupe | Rock
S shoes | zapatos | chaussures | Schuhe
L sneakers | zapatillas | baskets | Sneaker/Turnschuhe
L boots | botas | bottes | Stiefel
L sandals | sandalias | sandales | Sandalen
L heels | tacones | talons/escarpins | High Heels/Absatzschuhe
S accessories | accesorios | accessoires | Accessoires
L handbag | bolso | sac à main | Handtasche
L scarf | bufanda/pañuelo | écharpe/foulard | Schal
L sunglasses | gafas de sol | lunettes de soleil | Sonnenbrille
L hat | sombrero/gorro | chapeau | Hut/Mütze
S menswear | moda hombre | mode homme | Herrenmode
L suit | traje | costume | Anzug
L jacket | chaqueta | veste | Jacke
L shirt | camisa | chemise | Hemd
L watch | reloj | montre | Armbanduhr
T beauty | belleza | beauté | Beauty/Schönheit ; color style ; 2.0 ; 2.0
S makeup | maquillaje | maquillage | Make-up/Schminke
L eyeshadow | sombra de ojos | fard à paupières | Lidschatten
L lipstick | pintalabios/labial | rouge à lèvres | Lippenstift
L eyeliner | delineador | eye-liner | Eyeliner
L foundation | base de maquillaje | fond de teint | Grundierung/Foundation
S nails | uñas | ongles | Nägel
L nail art | diseño de uñas | nail art | Nageldesign
L gel nails | uñas de gel | ongles en gel | Gelnägel
L acrylic nails | uñas acrílicas | ongles en acrylique | Acrylnägel
L french manicure | manicura francesa | french manucure | French Maniküre
S skincare | cuidado de la piel | soin de la peau | Hautpflege
L face mask | mascarilla facial | masque visage | Gesichtsmaske
L serum | sérum | sérum | Serum
L moisturizer | crema hidratante | crème hydratante | Feuchtigkeitscreme
L sunscreen | protector solar | crème solaire | Sonnencreme
T travel | viajes | voyage | Reisen ; season style ; 2.0 ; 0.3
S beaches | playas | plages | Strände
L tropical island | isla tropical | île tropicale | tropische Insel
L beach resort | resort de playa | station balnéaire | Strandresort
L snorkeling | esnórquel | plongée avec tuba | Schnorcheln
L surf spot | lugar de surf | spot de surf | Surfspot
S cities | ciudades | villes | Städte
L paris | parís | paris | paris
L rome | roma | rome | rom
L new york | nueva york | new york | new york
L tokyo | tokio | tokyo | tokio
S mountains | montañas | montagne | Berge
L hiking trail | ruta de senderismo/sendero | sentier de randonnée | Wanderweg
L ski resort | estación de esquí | station de ski | Skigebiet
L lake cabin | cabaña junto al lago | chalet au bord du lac | Hütte am See
L national park | parque nacional | parc national | Nationalpark
S travel tips | consejos de viaje | conseils de voyage | Reisetipps
L packing list | lista de equipaje | liste de valise | Packliste
L road trip | viaje por carretera | road trip | Roadtrip
L backpacking | mochilero | voyage sac à dos | Backpacking
L travel budget | presupuesto de viaje | budget voyage | Reisebudget
T diy | manualidades/bricolaje | bricolage/diy | Heimwerken/DIY ; color material ; 1.5 ; 1.0
S home projects | proyectos para el hogar | projets maison | Heimprojekte
L pallet furniture | muebles de palets | meubles en palette | Palettenmöbel
L furniture makeover | restaurar muebles | relooking meuble | Möbel aufarbeiten
L floating shelves | estantes flotantes | étagères flottantes | Wandregale
L wall paint | pintura de pared | peinture murale | Wandfarbe
S crafts | manualidades creativas | loisirs créatifs | Bastelideen
L paper crafts | manualidades de papel | bricolage en papier | Papierbasteln
L macrame | macramé | macramé | Makramee
L candle making | hacer velas | fabrication de bougies | Kerzen gießen
L resin art | arte con resina | art en résine | Epoxidharz Kunst
S sewing | costura | couture | Nähen
L sewing patterns | patrones de costura | patrons de couture | Schnittmuster
L quilt | colcha de patchwork | courtepointe/quilt | Patchworkdecke/Quilt
L embroidery | bordado | broderie | Stickerei
L crochet | ganchillo/crochet | crochet | Häkeln
S upcycling | reciclaje creativo | récup/upcycling | Upcycling
L mason jars | tarros de cristal | bocaux en verre | Einmachgläser
L tire planters | macetas con neumáticos | jardinières en pneus | Reifen Pflanzkübel
L wine corks | corchos de vino | bouchons de liège | Weinkorken
L old jeans | vaqueros viejos | vieux jeans | alte Jeans
T gardening | jardinería | jardinage | Gartenarbeit/Garten ; color season style ; 1.5 ; 1.0
S vegetable garden | huerto | potager | Gemüsegarten
L raised beds | bancales elevados | carrés potagers/potager surélevé | Hochbeet
L tomato plants | tomateras/plantas de tomate | plants de tomates | Tomatenpflanzen
L herb garden | jardín de hierbas | jardin d'herbes aromatiques | Kräutergarten
L compost | compost | compost | Kompost
S flowers | flores | fleurs | Blumen
L roses | rosas | rosiers | Rosen
L tulips | tulipanes | tulipes | Tulpen
L hydrangeas | hortensias | hortensias | Hortensien
L sunflowers | girasoles | tournesols | Sonnenblumen
S indoor plants | plantas de interior | plantes d'intérieur | Zimmerpflanzen
L succulents | suculentas | plantes grasses/succulentes | Sukkulenten
L monstera | monstera | monstera | Monstera
L hanging plants | plantas colgantes | plantes suspendues | Hängepflanzen
L terrarium | terrario | terrarium | Terrarium
S backyard | patio trasero | arrière-cour | Hinterhof
L patio | terraza | terrasse | Terrasse
L fire pit | brasero/fogata | brasero/foyer extérieur | Feuerstelle
L garden path | sendero de jardín | allée de jardin | Gartenweg
L pergola | pérgola | pergola | Pergola
T wedding | boda/bodas | mariage | Hochzeit ; color style season ; 1.5 ; 1.0
S wedding dresses | vestidos de novia | robes de mariée | Brautkleider
L lace wedding dress | vestido de novia de encaje | robe de mariée en dentelle | Spitzenbrautkleid
L mermaid wedding dress | vestido de novia sirena | robe de mariée sirène | Meerjungfrau Brautkleid
L bridal veil | velo de novia | voile de mariée | Brautschleier
L bridesmaid dresses | vestidos de dama de honor | robes de demoiselle d'honneur | Brautjungfernkleider
S wedding decor | decoración de boda | décoration de mariage | Hochzeitsdeko
L centerpieces | centros de mesa | centres de table | Tischdeko
L wedding arch | arco de boda | arche de mariage | Hochzeitsbogen
L wedding favors | recuerdos de boda | cadeaux invités | Gastgeschenke
L wedding cake | tarta nupcial/pastel de boda | gâteau de mariage/pièce montée | Hochzeitstorte
S wedding flowers | flores de boda | fleurs de mariage | Hochzeitsblumen
L bridal bouquet | ramo de novia | bouquet de mariée | Brautstrauß
L boutonniere | prendido de solapa | boutonnière | Anstecker
L flower crown | corona de flores | couronne de fleurs | Blumenkranz
L floral arch | arco floral | arche fleurie | Blumenbogen
S wedding planning | planificación de boda | organisation de mariage | Hochzeitsplanung
L wedding invitations | invitaciones de boda | faire-part de mariage | Hochzeitseinladungen
L wedding checklist | lista para la boda | checklist mariage | Hochzeitscheckliste
L wedding venue | salón de bodas/lugar de boda | lieu de réception | Hochzeitslocation
L engagement ring | anillo de compromiso | bague de fiançailles | Verlobungsring
T fitness | fitness/ejercicio | fitness/sport | Fitness/Sport ; level ; 1.5 ; 1.5
S workouts | entrenamientos/rutinas | entraînements | Workouts/Training
L abs workout | ejercicios de abdominales | exercices abdos | Bauchmuskeltraining
L leg day | día de pierna | séance jambes | Beintraining
L hiit | hiit | hiit | hiit
L full body workout | rutina de cuerpo completo | entraînement complet | Ganzkörpertraining
S yoga | yoga | yoga | Yoga
L yoga poses | posturas de yoga | postures de yoga | Yogaposen/Yoga Übungen
L meditation | meditación | méditation | Meditation
L stretching | estiramientos | étirements | Dehnübungen
L pilates | pilates | pilates | Pilates
S running | correr/running | course à pied | Laufen/Joggen
L marathon training | entrenamiento para maratón | préparation marathon | Marathontraining
L 5k plan | plan de 5 km | plan 5 km | 5 km Trainingsplan
L running shoes | zapatillas de running | chaussures de running | Laufschuhe
L trail running | carrera de montaña/trail running | trail | Trailrunning
S home gym | gimnasio en casa | salle de sport maison | Heimfitnessstudio
L dumbbells | mancuernas | haltères | Hanteln
L resistance bands | bandas elásticas | bandes élastiques | Fitnessbänder/Widerstandsbänder
L kettlebell | pesa rusa/kettlebell | kettlebell | Kettlebell
L yoga mat | esterilla de yoga | tapis de yoga | Yogamatte
T art | arte | art | Kunst ; color style ; 1.2 ; 1.0
S painting | pintura | peinture | Malerei
L watercolor | acuarela | aquarelle | Aquarell
L acrylic painting | pintura acrílica | peinture acrylique | Acrylmalerei
L oil painting | pintura al óleo | peinture à l'huile | Ölmalerei
L abstract art | arte abstracto | art abstrait | abstrakte Kunst
S drawing | dibujo | dessin | Zeichnen
L sketchbook | cuaderno de bocetos | carnet de croquis | Skizzenbuch
L portrait drawing | dibujo de retrato | dessin de portrait | Porträtzeichnung
L charcoal drawing | dibujo al carboncillo | dessin au fusain | Kohlezeichnung
L anime drawing | dibujo anime | dessin manga | Anime Zeichnung
S digital art | arte digital | art numérique | digitale Kunst
L procreate | procreate | procreate | procreate
L pixel art | pixel art | pixel art | Pixelkunst
L character design | diseño de personajes | création de personnages | Charakterdesign
L illustration | ilustración | illustration | Illustration
S wall art | arte mural/cuadros | art mural/déco murale | Wandkunst/Wandbilder
L gallery wall | pared de galería | mur de cadres | Bilderwand
L posters | pósters/láminas | affiches | Poster
L murals | murales | fresques murales | Wandmalerei
L canvas prints | cuadros en lienzo | toiles imprimées | Leinwandbilder
T tech | tecnología | technologie/high-tech | Technik ; color style ; 1.0 ; 2.0
S gadgets | gadgets/artilugios | gadgets | Gadgets
L smartwatch | reloj inteligente | montre connectée | Smartwatch
L wireless earbuds | auriculares inalámbricos | écouteurs sans fil | kabellose Kopfhörer
L phone case | funda de móvil | coque de téléphone | Handyhülle
L power bank | batería externa | batterie externe | Powerbank
S desk setup | setup de escritorio | setup bureau | Schreibtisch Setup
L gaming setup | setup gamer | setup gaming | Gaming Setup
L mechanical keyboard | teclado mecánico | clavier mécanique | mechanische Tastatur
L monitor | monitor | écran | Bildschirm/Monitor
L desk lamp | lámpara de escritorio | lampe de bureau | Schreibtischlampe
S smart home | casa inteligente/hogar inteligente | maison connectée | Smart Home
L smart speaker | altavoz inteligente | enceinte connectée | smarter Lautsprecher
L robot vacuum | robot aspirador | aspirateur robot | Saugroboter
L smart lights | luces inteligentes | ampoules connectées | smarte Lampen
L security camera | cámara de seguridad | caméra de surveillance | Überwachungskamera
S coding | programación | programmation | Programmieren
L python | python | python | python
L web design | diseño web | conception web/webdesign | Webdesign
L raspberry pi | raspberry pi | raspberry pi | raspberry pi
L ux design | diseño ux | design ux | UX Design
T kids | niños | enfants | Kinder ; color season ; 1.5 ; 1.5
S kids activities | actividades para niños | activités enfants | Kinderbeschäftigung/Aktivitäten für Kinder
L sensory bin | caja sensorial | bac sensoriel | Sensorikkiste
L coloring pages | dibujos para colorear | coloriages | Ausmalbilder
L kids crafts | manualidades para niños | bricolage enfant | Basteln mit Kindern
L science experiments | experimentos científicos | expériences scientifiques | Experimente für Kinder
S nursery | habitación del bebé | chambre de bébé | Babyzimmer
L crib | cuna | lit bébé/berceau | Babybett
L baby mobile | móvil de cuna | mobile bébé | Baby Mobile
L changing table | cambiador | table à langer | Wickeltisch
L toy storage | organizador de juguetes | rangement jouets | Spielzeugaufbewahrung
S parenting | crianza | parentalité | Erziehung/Elternschaft
L baby names | nombres de bebé | prénoms bébé | Babynamen
L toddler meals | comidas para niños pequeños | repas enfant | Kleinkind Essen
L potty training | dejar el pañal | apprentissage de la propreté | Töpfchentraining
L bedtime routine | rutina de sueño | routine du coucher | Abendroutine
S kids party | fiesta infantil | anniversaire enfant/fête d'enfant | Kindergeburtstag
L party games | juegos de fiesta | jeux de fête | Partyspiele
L party favors | bolsitas de cumpleaños | pochettes surprise | Mitgebsel
L balloon garland | guirnalda de globos | arche de ballons | Ballongirlande
L unicorn party | fiesta de unicornio | fête licorne | Einhorn Party
T pets | mascotas | animaux de compagnie/animaux | Haustiere ; color style ; 1.2 ; 1.5
S dogs | perros | chiens | Hunde
L golden retriever | golden retriever | golden retriever | Golden Retriever
L dog bed | cama para perro | panier pour chien | Hundebett
L dog training | adiestramiento canino | éducation canine/dressage de chien | Hundetraining
L puppy | cachorro | chiot | Welpe
S cats | gatos | chats | Katzen
L kitten | gatito | chaton | Kätzchen
L cat tree | rascador/árbol para gatos | arbre à chat | Kratzbaum
L cat toys | juguetes para gatos | jouets pour chat | Katzenspielzeug
L maine coon | maine coon | maine coon | Maine Coon
S small pets | pequeñas mascotas | petits animaux | Kleintiere
L hamster cage | jaula de hámster | cage à hamster | Hamsterkäfig
L rabbit | conejo | lapin | Kaninchen/Hase
L aquarium | acuario | aquarium | Aquarium
L guinea pig | cobaya/cuy | cochon d'inde | Meerschweinchen
S horses | caballos | chevaux | Pferde
L horse riding | equitación | équitation | Reiten
L saddle | silla de montar | selle | Sattel
L pony | poni | poney | Pony
L stable | establo/cuadra | écurie | Pferdestall
T cars | coches/autos | voitures/auto | Autos ; color style ; 0.8 ; 1.0
S classic cars | coches clásicos | voitures de collection/voitures anciennes | Oldtimer
L mustang | mustang | mustang | Mustang
L vw beetle | escarabajo clásico | coccinelle | VW Käfer
L muscle car | muscle car | muscle car | Muscle Car
L porsche 911 | porsche 911 | porsche 911 | Porsche 911
S car interior | interior del coche | intérieur de voiture | Autoinnenraum
L seat covers | fundas de asiento | housses de siège | Sitzbezüge
L car organizer | organizador de coche | rangement voiture | Auto Organizer
L steering wheel cover | funda de volante | couvre-volant | Lenkradbezug
L car air freshener | ambientador de coche | désodorisant voiture | Autoduft
S motorcycles | motos | motos | Motorräder
L cafe racer | cafe racer | café racer | Cafe Racer
L harley davidson | harley davidson | harley davidson | Harley Davidson
L motorcycle helmet | casco de moto | casque moto | Motorradhelm
L scooter | scooter/vespa | scooter | Roller
S electric cars | coches eléctricos | voitures électriques | Elektroautos
L tesla | tesla | tesla | tesla
L ev charger | cargador de coche eléctrico | borne de recharge | Wallbox/Ladestation
L camper van | furgoneta camper | van aménagé | Campervan/Wohnmobil
L off road | todoterreno | tout-terrain | Geländewagen
T photography | fotografía | photographie | Fotografie ; color style season ; 1.0 ; 0.5
S portrait photography | fotografía de retrato | photographie de portrait | Porträtfotografie
L family photos | fotos familiares | photos de famille | Familienfotos
L headshots | retratos profesionales | portraits professionnels | Bewerbungsfotos
L couple poses | poses de pareja | poses couple | Paarposen
L newborn photography | fotografía de recién nacido | photo naissance | Neugeborenenfotografie
S landscape photography | fotografía de paisaje | photographie de paysage | Landschaftsfotografie
L sunset | atardecer/puesta de sol | coucher de soleil | Sonnenuntergang
L night sky | cielo nocturno | ciel étoilé | Sternenhimmel
L waterfall | cascada | cascade | Wasserfall
L northern lights | auroras boreales | aurores boréales | Polarlichter/Nordlichter
S photo editing | edición de fotos | retouche photo | Bildbearbeitung
L lightroom presets | presets de lightroom | presets lightroom | Lightroom Presets
L film photography | fotografía analógica | photographie argentique | analoge Fotografie
L photo filters | filtros de fotos | filtres photo | Fotofilter
L camera gear | equipo fotográfico | matériel photo | Kameraausrüstung
T holidays | fiestas/festividades | fêtes | Feiertage/Feste ; color style ; 1.5 ; 1.2
S christmas | navidad | noël | Weihnachten
L christmas tree | árbol de navidad | sapin de noël | Weihnachtsbaum/Tannenbaum
L advent calendar | calendario de adviento | calendrier de l'avent | Adventskalender
L christmas cookies | galletas navideñas | sablés de noël/biscuits de noël | Weihnachtsplätzchen
L gift wrapping | envolver regalos | emballage cadeau/papier cadeau | Geschenkverpackung
S halloween | halloween | halloween | Halloween
L halloween costume | disfraz de halloween | déguisement halloween | Halloweenkostüm
L pumpkin carving | calabaza tallada | citrouille sculptée | Kürbisschnitzen
L halloween decor | decoración de halloween | décoration halloween | Halloween Deko
L halloween makeup | maquillaje de halloween | maquillage halloween | Halloween Schminke
S easter | pascua | pâques | Ostern
L easter eggs | huevos de pascua | œufs de pâques | Ostereier
L easter basket | cesta de pascua | panier de pâques | Osterkorb
L easter bunny | conejo de pascua | lapin de pâques | Osterhase
L easter wreath | corona de pascua | couronne de pâques | Osterkranz
S valentines day | san valentín | saint-valentin | Valentinstag
L valentine gifts | regalos de san valentín | cadeaux saint-valentin | Valentinstag Geschenke
L valentine cards | tarjetas de san valentín | cartes saint-valentin | Valentinskarten
L romantic dinner | cena romántica | dîner romantique | romantisches Abendessen
L heart decorations | decoración de corazones | décoration cœur | Herzdeko
T hair | pelo/cabello | cheveux/coiffure | Haare/Frisuren ; color style ; 1.5 ; 0.8
S hairstyles | peinados | coiffures | Frisuren
L braids | trenzas | tresses | Zöpfe/Flechtfrisuren
L updo | recogido | chignon | Hochsteckfrisur
L ponytail | coleta | queue de cheval | Pferdeschwanz
L beach waves | ondas playeras | cheveux wavy | Beach Waves
S haircuts | cortes de pelo | coupes de cheveux | Haarschnitte
L bob | media melena/bob | carré | Bob
L pixie cut | corte pixie | coupe garçonne | Pixie Cut/Kurzhaarschnitt
L curtain bangs | flequillo cortina | frange rideau | Curtain Bangs
L layered haircut | corte en capas | coupe dégradée | Stufenschnitt
S hair color | tinte/color de pelo | coloration/couleur cheveux | Haarfarbe
L balayage | mechas balayage/balayage | balayage | Balayage
L highlights | mechas/reflejos | mèches | Strähnchen
L ombre hair | pelo ombré | cheveux ombré | Ombre Haare
L copper hair | pelo cobrizo | cheveux cuivrés | Kupferhaare
S mens hair | cortes de pelo hombre | coiffure homme | Männerfrisuren
L fade haircut | corte degradado/fade | dégradé américain | Fade Haarschnitt
L beard styles | estilos de barba | styles de barbe | Bartstile
L buzz cut | rapado | coupe rasée | Buzz Cut
L slicked back hair | peinado hacia atrás | cheveux plaqués | nach hinten gegelt
T tattoos | tatuajes | tatouages | Tattoos ; color style ; 1.0 ; 0.1
S small tattoos | tatuajes pequeños | petits tatouages | kleine Tattoos
L finger tattoo | tatuaje en el dedo | tatouage doigt | Finger Tattoo
L wrist tattoo | tatuaje en la muñeca | tatouage poignet | Handgelenk Tattoo
L fine line tattoo | tatuaje de línea fina | tatouage fine line | Fineline Tattoo
L ankle tattoo | tatuaje en el tobillo | tatouage cheville | Knöchel Tattoo
S tattoo designs | diseños de tatuajes | motifs de tatouage | Tattoo Motive
L rose tattoo | tatuaje de rosa | tatouage rose | Rosen Tattoo
L butterfly tattoo | tatuaje de mariposa | tatouage papillon | Schmetterling Tattoo
L snake tattoo | tatuaje de serpiente | tatouage serpent | Schlangen Tattoo
L moon tattoo | tatuaje de luna | tatouage lune | Mond Tattoo
S tattoo placement | ubicación del tatuaje | emplacement tatouage | Tattoo Stellen
L sleeve tattoo | tatuaje de manga | tatouage bras complet | Sleeve Tattoo
L back tattoo | tatuaje en la espalda | tatouage dos | Rücken Tattoo
L spine tattoo | tatuaje en la columna | tatouage colonne | Wirbelsäulen Tattoo
L chest tattoo | tatuaje en el pecho | tatouage torse | Brust Tattoo
T architecture | arquitectura | architecture | Architektur ; material style ; 0.8 ; 0.1
S modern houses | casas modernas | maisons modernes | moderne Häuser
L glass house | casa de cristal | maison en verre | Glashaus
L tiny house | casa pequeña/mini casa | tiny house/petite maison | Tiny House/Minihaus
L a-frame cabin | cabaña a-frame | chalet a-frame | A-Frame Haus
L container home | casa contenedor | maison container | Containerhaus
S facades | fachadas | façades | Fassaden
L brick facade | fachada de ladrillo | façade en brique | Backsteinfassade
L front door | puerta principal | porte d'entrée | Haustür
L windows | ventanas | fenêtres | Fenster
L roof terrace | azotea | toit-terrasse | Dachterrasse
S famous buildings | edificios famosos | monuments célèbres | berühmte Gebäude
L gothic cathedral | catedral gótica | cathédrale gothique | gotische Kathedrale
L skyscraper | rascacielos | gratte-ciel | Wolkenkratzer
L castle | castillo | château | Schloss/Burg
L bridge | puente | pont | Brücke
S floor plans | planos de casa | plans de maison | Grundrisse
L open floor plan | planta abierta | plan ouvert | offener Grundriss
L two story house | casa de dos pisos | maison à étage | zweistöckiges Haus
L small apartment | apartamento pequeño | petit appartement | kleine Wohnung
L loft | loft | loft | Loft
T quotes | frases/citas | citations | Sprüche/Zitate ; color style ; 1.5 ; 0.3
S motivational quotes | frases motivadoras | citations motivantes | Motivationssprüche
L success quotes | frases de éxito | citations sur le succès | Erfolgszitate
L gym motivation | motivación gym | motivation sport | Fitness Motivation
L study motivation | motivación para estudiar | motivation études | Lernmotivation
L positive affirmations | afirmaciones positivas | affirmations positives | positive Affirmationen
S love quotes | frases de amor | citations d'amour | Liebessprüche
L relationship quotes | frases de pareja | citations couple | Beziehungssprüche
L friendship quotes | frases de amistad | citations amitié | Freundschaftssprüche
L family quotes | frases de familia | citations famille | Familiensprüche
L heartbreak quotes | frases de desamor | citations rupture | Liebeskummer Sprüche
S funny quotes | frases graciosas | citations drôles | lustige Sprüche
L memes | memes | mèmes | Memes
L sarcastic quotes | frases sarcásticas | citations sarcastiques | sarkastische Sprüche
L work humor | humor de oficina | humour travail | Büro Humor
L puns | juegos de palabras | jeux de mots | Wortspiele
S bible verses | versículos bíblicos | versets bibliques | Bibelverse
L psalms | salmos | psaumes | Psalmen
L prayer | oración | prière | Gebet
L faith quotes | frases de fe | citations sur la foi | Glaubenssprüche
L scripture art | arte bíblico | art biblique | Bibelvers Kunst
"""

# Attributes: `kind: en | es | fr | de` (same conventions). Colors and materials are visible in the image.
_ATTRIBUTES = """
color: red | rojo | rouge | rot
color: blue | azul | bleu | blau
color: green | verde | vert | grün
color: yellow | amarillo | jaune | gelb
color: pink | rosa | rose | rosa
color: purple | morado | violet | lila
color: black | negro | noir | schwarz
color: white | blanco | blanc | weiß
color: gray/grey | gris | gris | grau
color: beige | beige | beige | beige
color: gold | dorado | doré | gold
color: navy | azul marino | bleu marine | marineblau
color: sage green | verde salvia | vert sauge | salbeigrün
material: wood/wooden | madera | bois | Holz
material: velvet | terciopelo | velours | Samt
material: linen | lino | lin | Leinen
material: leather | cuero/piel | cuir | Leder
material: marble | mármol | marbre | Marmor
material: ceramic | cerámica | céramique | Keramik
material: glass | vidrio/cristal | verre | Glas
material: cotton | algodón | coton | Baumwolle
material: rattan | ratán | rotin | Rattan
material: concrete | hormigón | béton | Beton
style: boho | boho | bohème/boho | Boho
style: minimalist | minimalista | minimaliste | minimalistisch
style: rustic | rústico | rustique | rustikal
style: vintage | vintage | vintage | Vintage
style: modern | moderno | moderne | modern
style: scandinavian | escandinavo | scandinave | skandinavisch
style: farmhouse | estilo campestre | style campagne | Landhausstil
style: elegant | elegante | élégant | elegant
style: industrial | industrial | industriel | Industrial
season: summer | verano | été | Sommer
season: winter | invierno | hiver | Winter
season: spring | primavera | printemps | Frühling
season: fall/autumn | otoño | automne | Herbst
diet: vegan | vegano | végan | vegan
diet: vegetarian | vegetariano | végétarien | vegetarisch
diet: gluten free | sin gluten | sans gluten | glutenfrei
diet: healthy | saludable/sano | sain/healthy | gesund
diet: keto | keto | keto | Keto
diet: easy | fácil | facile | einfach
diet: quick | rápido | rapide | schnell
level: beginner | principiante | débutant | Anfänger
level: at home | en casa | à la maison | zuhause
level: 10 minute | 10 minutos | 10 minutes | 10 Minuten
level: advanced | avanzado | avancé | Fortgeschrittene
level: for women | para mujeres | pour femme | für Frauen
"""

VISUAL_KINDS = ("color", "material")

# Words that say nothing about the interest: generic query modifiers, filler in pin text, noisy board titles.
_GENERIC = """
ideas | ideas | idées | Ideen
aesthetic | estética | aesthetic | Aesthetic
inspiration | inspiración | inspiration | Inspiration
diy | diy/casero | diy/fait maison | DIY/selber machen
2024 | 2024 | 2024 | 2024
cute | bonito/lindo | mignon | süß
tutorial | tutorial | tuto | Anleitung
small | pequeño | petit | klein
best | mejores | meilleur | beste
for small spaces | para espacios pequeños | pour petits espaces | für kleine Räume
cheap | barato | pas cher | günstig
luxury | lujo | luxe | Luxus
hacks | trucos | astuces | Tipps/Tricks
before and after | antes y después | avant après | vorher nachher
photos | fotos | photos | Bilder
trends | tendencias | tendances | Trends
wallpaper | fondo de pantalla | fond d'écran | Hintergrundbild
2025 | 2025 | 2025 | 2025
pretty | precioso | joli | hübsch
"""
_FILLER = """
love this | me encanta | j'adore | ich liebe es
so pretty | qué bonito | trop beau | so schön
must try | hay que probarlo | à tester | muss ich ausprobieren
new post | nuevo post | nouvel article | neuer Beitrag
link in bio | enlace en la bio | lien en bio | Link in Bio
my favorite | mi favorito | mon préféré | mein Favorit
save for later | guardar para después | à garder | für später speichern
check it out | échale un vistazo | à voir | schau mal
weekend vibes | planes de finde | ambiance week-end | Wochenende
obsessed | obsesionada | obsédée | besessen
"""
_NOISY_BOARDS = """
stuff | cosas | trucs | Sachen
my board | mi tablero | mon tableau | meine Pinnwand
ideas | ideas | idées | Ideen
favorites | favoritos | favoris | Favoriten
random | random | divers | Verschiedenes
things i like | cosas que me gustan | choses que j'aime | Dinge die ich mag
for later | para luego | pour plus tard | für später
"""
# Connectors used to build item text in each language ("ideas for your kitchen", "made of oak").
CONNECTORS: dict[str, dict[str, str]] = {
    "en": {"for": "for", "with": "with", "made": "made of", "and": "and"},
    "es": {"for": "para", "with": "con", "made": "hecho de", "and": "y"},
    "fr": {"for": "pour", "with": "avec", "made": "en", "and": "et"},
    "de": {"for": "für", "with": "mit", "made": "aus", "and": "und"},
}
EMOJI = ("✨", "💕", "🏡", "🌿", "😍", "🔥", "👌", "🌸", "💯", "🙌", "📌", "☀️")
# Languages that put an adjective after the noun (queries and titles follow the habit, loosely).
ADJECTIVE_AFTER = frozenset({"es", "fr"})

# Simulated image-captioner output (English, captioner-style phrasing). `{x}` is an item phrase.
CAPTION_TEMPLATES = (
    "a {x}",
    "a close up of a {x}",
    "a picture of a {x} on a table",
    "there is a {x} that is on display",
    "a photo of a {x} with a white background",
    "an image of a {x} in a room",
    "a {x} is shown in this picture",
)
CAPTION_TWO = "a {x} and a {y}"
GENERIC_CAPTIONS = (
    "a close up of a person holding a cell phone",
    "a blurry photo of a white wall",
    "arafed woman standing in front of a building",
    "a screenshot of a cell phone with a text message",
    "a black and white photo of a person",
    "a collage of photos of different things",
    "a white background with a black border",
    "a person standing in a room with a window",
)
BRAND_SYLLABLES = (
    "no",
    "va",
    "ri",
    "ka",
    "lu",
    "mo",
    "sel",
    "ber",
    "ta",
    "vi",
    "den",
    "zo",
    "lin",
    "ar",
    "ko",
)


@dataclass(frozen=True)
class Concept:
    """A taxonomy node or attribute: a stable id, an English name and surface words per language."""

    id: str
    name: str
    words: dict[str, tuple[str, ...]]
    kind: str = ""  # level ("top", "sub", "leaf") or attribute kind ("color", ...)
    parent: int = -1  # index of the parent in the level above
    attr_kinds: tuple[str, ...] = ()  # top-level only
    pin_weight: float = 1.0  # top-level only
    product_weight: float = 1.0  # top-level only


@dataclass(frozen=True)
class Lexicon:
    tops: tuple[Concept, ...]
    subs: tuple[Concept, ...]
    leaves: tuple[Concept, ...]
    attributes: tuple[Concept, ...]
    generic: tuple[Concept, ...]
    filler: tuple[Concept, ...]
    noisy_boards: tuple[Concept, ...]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _words(columns: str) -> dict[str, tuple[str, ...]]:
    cells = [c.strip() for c in columns.split("|")]
    if len(cells) != len(LANGUAGES):
        raise ValueError(f"lexicon line needs {len(LANGUAGES)} languages: {columns!r}")
    return {lang: tuple(w.strip() for w in cell.split("/")) for lang, cell in zip(LANGUAGES, cells)}


def _plain(block: str, kind: str = "") -> tuple[Concept, ...]:
    out = []
    for line in block.strip().splitlines():
        words = _words(line)
        out.append(Concept(_slug(words["en"][0]), words["en"][0], words, kind))
    return tuple(out)


@functools.cache
def load_lexicon() -> Lexicon:
    """Parse the built-in lexicon (cached: it never changes within a process)."""
    tops: list[Concept] = []
    subs: list[Concept] = []
    leaves: list[Concept] = []
    for line in _TAXONOMY.strip().splitlines():
        tag, rest = line[0], line[2:]
        if tag == "T":
            cols, kinds, pin_w, prod_w = (p.strip() for p in rest.split(";"))
            words = _words(cols)
            tops.append(
                Concept(
                    _slug(words["en"][0]),
                    words["en"][0],
                    words,
                    "top",
                    attr_kinds=tuple(kinds.split()),
                    pin_weight=float(pin_w),
                    product_weight=float(prod_w),
                )
            )
        else:
            words = _words(rest)
            level, parents = ("sub", tops) if tag == "S" else ("leaf", subs)
            target = subs if tag == "S" else leaves
            cid = f"{parents[-1].id}/{_slug(words['en'][0])}"
            target.append(Concept(cid, words["en"][0], words, level, parent=len(parents) - 1))
    attributes = []
    for line in _ATTRIBUTES.strip().splitlines():
        kind, cols = line.split(":", 1)
        words = _words(cols)
        attributes.append(Concept(_slug(words["en"][0]), words["en"][0], words, kind.strip()))
    return Lexicon(
        tuple(tops),
        tuple(subs),
        tuple(leaves),
        tuple(attributes),
        _plain(_GENERIC),
        _plain(_FILLER),
        _plain(_NOISY_BOARDS),
    )
